"""Real English passages for bench-hnsw's text set: the paragraphs of the
docstrings (modules, classes, functions) of Python's standard library and of
the packages pinned in requirements.txt (numpy, onnx, ...), run with the bench
venv's python so the text is the same on every machine; paragraphs of at least
120 characters, deduplicated, in module-name order.

Usage: passages.py <count>   (CSV `id,body` on stdout)
"""

import contextlib
import csv
import importlib
import io
import inspect
import os
import pkgutil
import re
import sys
import warnings

warnings.filterwarnings("ignore")
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "tests", "testing", "lib2to3", "ensurepip", "venv", "pydoc_data", "pip", "setuptools", "_distutils_hack"}


def docstrings():
    # Importing walks packages too; their prints must not reach the CSV.
    with contextlib.redirect_stdout(io.StringIO()):
        names = sorted(
            m.name
            for m in pkgutil.walk_packages(path=None, onerror=lambda n: None)
            if not any(part in SKIP or part.startswith("_") for part in m.name.split("."))
        )
    for name in names:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                module = importlib.import_module(name)
        except BaseException:
            continue
        objects = [module]
        try:
            for _, member in inspect.getmembers(module):
                objects.append(member)
                if inspect.isclass(member):
                    objects.extend(v for _, v in inspect.getmembers(member))
        except BaseException:
            pass
        for obj in objects:
            try:
                doc = inspect.getdoc(obj)
            except BaseException:
                continue
            if doc:
                yield doc


def passages(count):
    seen = []
    known = set()
    for doc in docstrings():
        for paragraph in re.split(r"\n\s*\n", doc):
            text = " ".join(paragraph.split())[:700]
            if len(text) < 120 or text in known:
                continue
            known.add(text)
            seen.append(text)
            if len(seen) == count:
                return seen
    sys.exit(f"only {len(seen)} passages found, {count} asked")


def main() -> None:
    count = int(sys.argv[1])
    # Some packages print while imported, even to the process's own stdout
    # (fd 1): the CSV goes to a copy of fd 1 taken first, fd 1 to /dev/null.
    out_file = os.fdopen(os.dup(1), "w", newline="")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    texts = passages(count)
    out = csv.writer(out_file, lineterminator="\n")
    out.writerow(["id", "body"])
    for n, text in enumerate(texts):
        out.writerow([n, text])
    out_file.flush()


if __name__ == "__main__":
    main()
