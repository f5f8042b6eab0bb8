//! `smallmind serve` as a process: it prints the address it listens on, becomes healthy, and a
//! SIGTERM during a stream ends the stream and the process with exit code 0.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use smallmind_testkit::fixture;

/// Sends one HTTP/1.1 request with `Connection: close` and returns the stream to read from.
fn request(address: &str, method: &str, path: &str, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
}

fn status_line(stream: &mut TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}

#[test]
fn sigterm_during_a_stream_exits_zero() {
    let model = fixture("tiny-llama-gguf/tiny-llama-Q8_0.gguf");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smallmind"))
        .args(["serve", "--port", "0", "--slots", "1", "--threads", "1"])
        .args(["--chat-template", "chatml", "-m"])
        .arg(&model)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();

    let mut healthy = false;
    for _ in 0..500 {
        let mut health = request(&address, "GET", "/health", "");
        if status_line(&mut health).starts_with("HTTP/1.1 200") {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(healthy, "/health never answered 200");

    let body = r#"{"prompt": "the", "max_tokens": 250, "temperature": 0, "stream": true}"#;
    let mut stream = request(&address, "POST", "/v1/completions", body);
    let mut first = [0u8; 64];
    let read = stream.read(&mut first).unwrap();
    assert!(
        String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&first[..read])
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    let _ = stream.read_to_string(&mut rest);
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}
