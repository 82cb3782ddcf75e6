//! stdio front end: a line reader between stdin and rmcp, and one writer for stdout.
//!
//! rmcp reads newline-delimited JSON-RPC from an in-memory duplex. Each stdin line is
//! screened first ([`super::jsonrpc::screen`]): a line that is not JSON gets a `-32700`
//! answer, one that is not a JSON-RPC message `-32600`, a known method with bad params
//! `-32602`, and a request whose id is still in flight `-32600` (it is not run). Good lines go
//! to rmcp byte for byte. Everything on stdout — rmcp's answers and the front end's own —
//! goes through a single writer task, one whole line at a time, so lines never interleave.
//! An id leaves the in-flight set when its response or error is written, or when the client
//! cancels it.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
};

use rmcp::{ServerHandler, ServiceExt, model::RequestId};
use serde_json::Value;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    sync::mpsc,
};

use super::jsonrpc::{self, INVALID_REQUEST, Inbound, Rejection};

/// Longest accepted line; a longer one is answered `-32600` and skipped.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Serves `server` on the process's stdin and stdout until stdin closes.
pub async fn serve<S: ServerHandler>(server: S) -> anyhow::Result<()> {
    serve_on(server, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves `server` reading JSON-RPC lines from `input` and writing them to `output`.
pub async fn serve_on<S, R, W>(server: S, input: R, output: W) -> anyhow::Result<()>
where
    S: ServerHandler,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (front, rmcp_side) = tokio::io::duplex(256 * 1024);
    let (from_rmcp, to_rmcp) = tokio::io::split(front);
    let in_flight = InFlight::default();
    let (lines, queue) = mpsc::channel::<Vec<u8>>(64);

    let writer = tokio::spawn(write_lines(queue, output));
    let answers = tokio::spawn(relay_answers(
        BufReader::new(from_rmcp),
        lines.clone(),
        in_flight.clone(),
    ));
    let reader = tokio::spawn(read_requests(
        BufReader::new(input),
        to_rmcp,
        lines,
        in_flight,
    ));

    let result = match server.serve(rmcp_side).await {
        Ok(running) => running
            .waiting()
            .await
            .map(|_| ())
            .map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::Error::from(e)),
    };
    // rmcp has stopped: its side of the duplex is closed, so the relay ends, then the writer
    // once the reader (which may still wait on stdin) lets go of its sender.
    reader.abort();
    let _ = answers.await;
    let _ = writer.await;
    result
}

/// Request ids sent to rmcp and not answered yet.
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<RequestId>>>);

impl InFlight {
    /// False when `id` is already in flight.
    fn begin(&self, id: RequestId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id)
    }

    fn end(&self, id: &RequestId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

fn line_of(value: &Value) -> Vec<u8> {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

async fn write_lines<W: AsyncWrite + Unpin>(mut queue: mpsc::Receiver<Vec<u8>>, mut output: W) {
    while let Some(line) = queue.recv().await {
        if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
            tracing::warn!("stdout is closed; dropping the remaining answers");
            return;
        }
    }
}

/// rmcp's output, one line per message: frees answered ids and fixes what clients need fixed.
async fn relay_answers<R: AsyncBufRead + Unpin>(
    mut from_rmcp: R,
    lines: mpsc::Sender<Vec<u8>>,
    in_flight: InFlight,
) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match from_rmcp.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let out = match serde_json::from_slice::<Value>(&line) {
            Ok(mut message) => {
                if let Some(id) = jsonrpc::answered_id(&message) {
                    in_flight.end(&id);
                }
                if jsonrpc::fix_outgoing(&mut message) {
                    line_of(&message)
                } else {
                    line.clone()
                }
            }
            Err(_) => line.clone(),
        };
        if lines.send(out).await.is_err() {
            return;
        }
    }
}

enum Line {
    /// A whole line (without its newline), or the last bytes before end of input.
    Data,
    TooLong,
    End,
}

/// Reads one line into `buf`, keeping at most `max` bytes; the rest of a longer line is
/// skipped.
async fn next_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (too_long, buf.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Data,
            });
        }
        let (chunk, used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        input.consume(used);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Data });
        }
    }
}

async fn read_requests<R, W>(
    mut input: R,
    mut to_rmcp: W,
    lines: mpsc::Sender<Vec<u8>>,
    in_flight: InFlight,
) where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    loop {
        let rejection = match next_line(&mut input, &mut buf, MAX_LINE_BYTES).await {
            Err(e) => {
                tracing::warn!(error = %e, "cannot read stdin; stopping");
                break;
            }
            Ok(Line::End) => break,
            Ok(Line::TooLong) => Some(Rejection::new(
                None,
                INVALID_REQUEST,
                format!("Invalid Request: message longer than {MAX_LINE_BYTES} bytes"),
            )),
            Ok(Line::Data) => {
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match jsonrpc::screen(&buf) {
                    Err(rejection) => Some(rejection),
                    Ok(Inbound::Request { id, method, .. }) => {
                        if in_flight.begin(id.clone()) {
                            None
                        } else {
                            tracing::warn!(%id, %method, "refused a request whose id is in flight");
                            Some(Rejection::new(
                                Some(id.clone()),
                                INVALID_REQUEST,
                                format!(
                                    "Invalid Request: request id {id} is already in flight; \
                                     use a new id for each request"
                                ),
                            ))
                        }
                    }
                    Ok(Inbound::Notification {
                        cancelled: Some(id),
                    }) => {
                        // rmcp does not answer a cancelled request: its id is free again.
                        in_flight.end(&id);
                        None
                    }
                    Ok(Inbound::Notification { cancelled: None } | Inbound::Response) => None,
                }
            }
        };
        match rejection {
            Some(rejection) => {
                tracing::debug!(code = rejection.code, "answered a message without rmcp");
                if lines.send(line_of(&rejection.to_value())).await.is_err() {
                    break;
                }
            }
            None => {
                buf.push(b'\n');
                if to_rmcp.write_all(&buf).await.is_err() || to_rmcp.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    // End of input: rmcp sees its input close and stops.
    let _ = to_rmcp.shutdown().await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn lines_of(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        let mut r = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match next_line(&mut r, &mut buf, max).await.unwrap() {
                Line::End => return out,
                Line::TooLong => out.push(None),
                Line::Data => out.push(Some(buf.clone())),
            }
        }
    }

    #[tokio::test]
    async fn lines_are_split_and_long_ones_skipped() {
        let got = lines_of(b"ab\n0123456789\ncd\nlast", 5).await;
        assert_eq!(
            got,
            vec![
                Some(b"ab".to_vec()),
                None,
                Some(b"cd".to_vec()),
                Some(b"last".to_vec())
            ]
        );
    }

    #[derive(Clone)]
    struct Nothing;
    impl ServerHandler for Nothing {}

    #[tokio::test]
    async fn answers_garbage_and_stops_at_end_of_input() {
        let (mut client, server_io) = tokio::io::duplex(64 * 1024);
        let (input, output) = tokio::io::split(server_io);
        let task = tokio::spawn(serve_on(Nothing, input, output));
        client
            .write_all(
                b"garbage\n\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"0\"}}}\n",
            )
            .await
            .unwrap();
        let mut reader = BufReader::new(client);
        let mut first = String::new();
        reader.read_line(&mut first).await.unwrap();
        let v: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(v["error"]["code"], jsonrpc::PARSE_ERROR);
        assert_eq!(v["id"], Value::Null);
        let mut second = String::new();
        reader.read_line(&mut second).await.unwrap();
        let v: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(v["id"], 1, "{v}");
        assert!(v["result"]["protocolVersion"].is_string(), "{v}");
        // Closing the input ends the server.
        let mut client = reader.into_inner();
        client.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.read_to_end(&mut rest),
        )
        .await;
        let done = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        assert!(done.is_ok(), "the server stops when its input closes");
    }
}
