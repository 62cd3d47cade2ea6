//! Hostile protocol messages after login: truncated, oversized, with
//! counts that claim more than they carry. Each connection may be refused
//! or closed; the server must stay up and keep serving everyone else.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use lakehouse_tests::{PASSWORD, TestServer, USER, simple_rows};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// A frontend message: type byte, length, body.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads one backend message: (type, body).
async fn read_message(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).await?;
    let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len.saturating_sub(4)];
    s.read_exact(&mut body).await?;
    Ok((head[0], body))
}

/// A raw connection logged in with SCRAM-SHA-256, ready for queries.
async fn login(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut startup = 196608i32.to_be_bytes().to_vec();
    startup.extend_from_slice(format!("user\0{USER}\0database\0lakehouse\0\0").as_bytes());
    let mut packet = ((startup.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&startup);
    s.write_all(&packet).await.unwrap();
    let (kind, _) = read_message(&mut s).await.unwrap();
    assert_eq!(kind, b'R');
    let nonce = "fuzzclientnonce0123456789";
    let client_first_bare = format!("n=,r={nonce}");
    let client_first = format!("n,,{client_first_bare}");
    let mut body = b"SCRAM-SHA-256\0".to_vec();
    body.extend_from_slice(&(client_first.len() as i32).to_be_bytes());
    body.extend_from_slice(client_first.as_bytes());
    s.write_all(&message(b'p', &body)).await.unwrap();
    let (kind, body) = read_message(&mut s).await.unwrap();
    assert_eq!(kind, b'R');
    let server_first = String::from_utf8(body[4..].to_vec()).unwrap();
    let field = |k: &str| {
        server_first
            .split(',')
            .find_map(|p| p.strip_prefix(k))
            .unwrap()
            .to_string()
    };
    let (combined, salt, iterations) = (field("r="), B64.decode(field("s=")).unwrap(), field("i="));
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        PASSWORD.as_bytes(),
        &salt,
        iterations.parse().unwrap(),
        &mut salted,
    );
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let without_proof = format!("c=biws,r={combined}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let client_final = format!("{without_proof},p={}", B64.encode(proof));
    s.write_all(&message(b'p', client_final.as_bytes()))
        .await
        .unwrap();
    loop {
        let (kind, _) = read_message(&mut s).await.unwrap();
        assert_ne!(kind, b'E', "login failed");
        if kind == b'Z' {
            return s;
        }
    }
}

/// A Bind of the unnamed statement with one binary parameter.
fn bind_binary(value: &[u8]) -> Vec<u8> {
    let mut body = b"\0\0".to_vec(); // portal "", statement ""
    body.extend_from_slice(&1i16.to_be_bytes()); // one format code
    body.extend_from_slice(&1i16.to_be_bytes()); // binary
    body.extend_from_slice(&1i16.to_be_bytes()); // one parameter
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    body.extend_from_slice(&0i16.to_be_bytes()); // result formats
    message(b'B', &body)
}

/// Parse, Bind, Execute, Sync of a statement whose binary `text[]`
/// parameter's header claims 2^31-1 elements (and carries none).
fn huge_array_parameter() -> Vec<u8> {
    let mut parse = b"\0SELECT cardinality($1::text[])\0".to_vec();
    parse.extend_from_slice(&1i16.to_be_bytes());
    parse.extend_from_slice(&1009i32.to_be_bytes()); // text[]
    let mut array = Vec::new();
    for v in [1i32, 0, 25, i32::MAX, 1] {
        array.extend_from_slice(&v.to_be_bytes());
    }
    let mut sequence = message(b'P', &parse);
    sequence.extend(bind_binary(&array));
    sequence.extend(message(b'E', b"\0\0\0\0\0"));
    sequence.extend(message(b'S', b""));
    sequence
}

/// The hostile messages, each sent on a fresh logged-in connection.
fn hostile_messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // A Query whose length claims 1 GB, then nothing.
    out.push(b"Q\x3f\xff\xff\xffSELECT 1".to_vec());
    // Lengths below the minimum.
    out.push(b"Q\x00\x00\x00\x02".to_vec());
    out.push(b"P\x00\x00\x00\x00".to_vec());
    // A Parse that claims 65535 parameter types and carries none.
    let mut parse = b"s1\0SELECT $1\0".to_vec();
    parse.extend_from_slice(&u16::MAX.to_be_bytes());
    out.push(message(b'P', &parse));
    // A Bind that claims 65535 parameters and carries none.
    let mut bind = b"\0s1\0".to_vec();
    bind.extend_from_slice(&0i16.to_be_bytes());
    bind.extend_from_slice(&u16::MAX.to_be_bytes());
    out.push(message(b'B', &bind));
    // A Bind of a parameter whose length claims 2 GB.
    let mut bind = b"\0\0".to_vec();
    bind.extend_from_slice(&0i16.to_be_bytes());
    bind.extend_from_slice(&1i16.to_be_bytes());
    bind.extend_from_slice(&i32::MAX.to_be_bytes());
    out.push(message(b'B', &bind));
    out.push(huge_array_parameter());
    // Execute of a portal with the largest row limit, and a negative one.
    for limit in [i32::MAX, -1] {
        let mut sequence = message(b'P', b"\0SELECT 1\0\0\0");
        sequence.extend(message(b'B', b"\0\0\0\0\0\0\0\0"));
        let mut execute = b"\0".to_vec();
        execute.extend_from_slice(&limit.to_be_bytes());
        sequence.extend(message(b'E', &execute));
        sequence.extend(message(b'S', b""));
        out.push(sequence);
    }
    // Unknown message types, a Describe of an unknown kind, CopyData outside COPY.
    out.push(message(b'!', b"x"));
    out.push(message(b'D', b"Xnope\0"));
    out.push(message(b'd', b"1\t2\n"));
    // Random bytes.
    let mut state = 99u64;
    for _ in 0..40 {
        let len = 1 + (state % 48) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 33) as u8
            })
            .collect();
        out.push(bytes);
    }
    out
}

#[tokio::test]
async fn hostile_messages_after_login_do_not_hurt_the_server() {
    let server = TestServer::start();
    let witness = server.client().await;
    for payload in hostile_messages() {
        let mut s = login(server.port).await;
        let _ = s.write_all(&payload).await;
        // Read whatever comes back (an error, a result, the close) for a moment.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while read_message(&mut s).await.is_ok() {}
        })
        .await;
        assert_eq!(
            simple_rows(&witness, "SELECT 1").await.unwrap(),
            vec![vec!["1"]],
            "after {payload:?}"
        );
    }
    // New logins still work.
    let c = server.client().await;
    assert_eq!(simple_rows(&c, "SELECT 2").await.unwrap(), vec![vec!["2"]]);
}

#[tokio::test]
async fn an_array_parameter_claiming_two_billion_elements_is_refused() {
    let server = TestServer::start();
    let mut s = login(server.port).await;
    s.write_all(&huge_array_parameter()).await.unwrap();
    let mut error = None;
    loop {
        let (kind, body) = read_message(&mut s).await.expect("an answer");
        if kind == b'E' {
            error = Some(String::from_utf8_lossy(&body).to_string());
        }
        if kind == b'Z' {
            break;
        }
    }
    let error = error.expect("an error");
    assert!(error.contains("22P02"), "{error}");
    assert!(error.contains("claims"), "{error}");
}
