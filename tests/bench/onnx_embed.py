"""The onnxruntime peer of embed(): all-MiniLM-L6-v2 as an ONNX graph, run by
onnxruntime on the CPU, for bench-ai's throughput ratio.

No ONNX export of the model is on PyPI and the exporters need PyTorch, so this
writes the BERT graph itself with `onnx.helper` from the same safetensors
weights embed() loads (embeddings, 6 encoder layers, masked mean pooling, L2
normalization), checks it against the sentence-transformers reference cosine,
and then embeds texts the way embed() does: sorted by length, batches of 32,
padded to each batch's longest, truncated at 256 tokens.

Usage: onnx_embed.py <model dir> <texts file, one per line> [<texts file> ...]
Prints one line per file: `<file> <texts> <seconds> <texts/s>`.
"""

import math
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HEADS = 12
BATCH = 32
MAX_TOKENS = 256


def build_graph(weights: dict) -> onnx.ModelProto:
    hidden = weights["embeddings.word_embeddings.weight"].shape[1]
    head_dim = hidden // HEADS
    layers = 1 + max(
        int(k.split(".")[2]) for k in weights if k.startswith("encoder.layer.")
    )
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op, inputs, name, **attrs):
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def linear(x, prefix, out):
        w = const(prefix + ".wT", weights[prefix + ".weight"].T.copy())
        b = const(prefix + ".b", weights[prefix + ".bias"])
        return node("Add", [node("MatMul", [x, w], out + "_mm"), b], out)

    def layer_norm(x, prefix, out):
        g = const(prefix + ".g", weights[prefix + ".weight"])
        b = const(prefix + ".b", weights[prefix + ".bias"])
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=1e-12)

    # Embeddings: word + position[:S] + token type 0.
    word = node(
        "Gather", [const("word", weights["embeddings.word_embeddings.weight"]), "input_ids"], "e_word"
    )
    seq = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), const("one", np.array(1))], "seq")
    seq = node("Unsqueeze", [seq, const("axis0", np.array([0]))], "seq1")
    pos = node(
        "Slice",
        [const("pos", weights["embeddings.position_embeddings.weight"]), const("zero1", np.array([0])), seq],
        "e_pos",
    )
    type0 = const("type0", weights["embeddings.token_type_embeddings.weight"][0])
    x = node("Add", [node("Add", [word, pos], "e_wp"), type0], "e_sum")
    x = layer_norm(x, "embeddings.LayerNorm", "e_ln")

    # Additive attention mask [B, 1, 1, S].
    maskf = node("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    neg = node("Mul", [node("Sub", [const("onef", np.float32(1.0)), maskf], "inv"), const("big", np.float32(-1e9))], "neg")
    bias = node("Unsqueeze", [neg, const("axes12", np.array([1, 2]))], "mask_bias")
    split_heads = const("split", np.array([0, 0, HEADS, head_dim]))
    merge_heads = const("merge", np.array([0, 0, hidden]))
    scale = const("scale", np.float32(1.0 / math.sqrt(head_dim)))

    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = node("Reshape", [linear(x, p + ".attention.self.query", f"q{i}"), split_heads], f"q{i}r")
        k = node("Reshape", [linear(x, p + ".attention.self.key", f"k{i}"), split_heads], f"k{i}r")
        v = node("Reshape", [linear(x, p + ".attention.self.value", f"v{i}"), split_heads], f"v{i}r")
        q = node("Transpose", [q], f"q{i}t", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], f"k{i}t", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], f"v{i}t", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"s{i}"), scale], f"s{i}s")
        probs = node("Softmax", [node("Add", [scores, bias], f"s{i}m")], f"p{i}", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, v], f"c{i}")], f"c{i}t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, merge_heads], f"c{i}r")
        attn = linear(ctx, p + ".attention.output.dense", f"a{i}")
        x = layer_norm(node("Add", [attn, x], f"a{i}res"), p + ".attention.output.LayerNorm", f"a{i}ln")
        h = linear(x, p + ".intermediate.dense", f"h{i}")
        # Exact (erf) GELU, as BERT uses.
        erf = node("Erf", [node("Mul", [h, const(f"rs2_{i}", np.float32(1 / math.sqrt(2)))], f"h{i}d")], f"h{i}erf")
        gelu = node(
            "Mul",
            [node("Mul", [h, const(f"half{i}", np.float32(0.5))], f"h{i}half"), node("Add", [erf, const(f"one{i}", np.float32(1.0))], f"h{i}e1")],
            f"h{i}g",
        )
        out = linear(gelu, p + ".output.dense", f"o{i}")
        x = layer_norm(node("Add", [out, x], f"o{i}res"), p + ".output.LayerNorm", f"o{i}ln")

    # Masked mean pooling, then L2 normalization.
    m3 = node("Unsqueeze", [maskf, const("axis2", np.array([2]))], "mask3")
    summed = node("ReduceSum", [node("Mul", [x, m3], "masked"), const("axis1", np.array([1]))], "summed", keepdims=0)
    count = node("ReduceSum", [m3, const("axis1b", np.array([1]))], "count", keepdims=0)
    mean = node("Div", [summed, node("Max", [count, const("eps", np.float32(1e-9))], "count1")], "mean")
    norm = node("ReduceL2", [mean], "norm", axes=[-1], keepdims=1)
    node("Div", [mean, node("Max", [norm, const("eps2", np.float32(1e-12))], "norm1")], "embedding")

    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class OnnxEmbedder:
    def __init__(self, model_dir: str):
        import glob

        weights = load_file(glob.glob(os.path.join(model_dir, "*.safetensors"))[0])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(
            build_graph(weights).SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)

    def embed(self, texts):
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = [None] * len(texts)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            longest = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), longest), dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for row, i in enumerate(batch):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            vectors = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            for row, i in enumerate(batch):
                out[i] = vectors[row]
        return out


def main() -> None:
    embedder = OnnxEmbedder(sys.argv[1])
    a, b = embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])
    cosine = float(np.dot(a, b))
    assert abs(cosine - 0.7553) < 0.005, f"ONNX graph disagrees with the reference: {cosine}"
    print(f"reference-cosine {cosine:.4f}", flush=True)
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f if line.strip()]
        embedder.embed(texts[:64])  # warm-up
        started = time.perf_counter()
        embedder.embed(texts)
        seconds = time.perf_counter() - started
        print(f"{path} {len(texts)} {seconds:.3f} {len(texts) / seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
