//! The JSON error body on the answers hyper makes by itself.
//!
//! A request hyper cannot parse never reaches the application: hyper answers it on its own
//! (400 for a malformed request line or header, 414 for a URI over 64 KiB, 431 for too many
//! or too large headers) with an empty body, and closes the connection. There is no hook for
//! those answers, so the connection's writer recognises them (an error status with
//! `content-length: 0` and no `content-type`, which the application never sends: its every
//! error carries the JSON body) and sends in their place the same status with the body of
//! [`AppError`], the server's one error mapping.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::AppError;

/// Longest URI hyper reads (`http`'s limit), bytes.
pub const MAX_URI_BYTES: usize = u16::MAX as usize - 1;

/// Longest answer head hyper writes for a parse error; anything longer is not one.
const MAX_AUTOMATIC_HEAD: usize = 512;

/// A connection's I/O whose writes of hyper's automatic error answers are replaced by the
/// same answers with the JSON error body.
#[derive(Debug)]
pub struct JsonParseErrors<T> {
    inner: T,
    pending: Option<Replacement>,
}

/// An answer being written in place of hyper's.
#[derive(Debug)]
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// How many of hyper's bytes it stands for (reported written once it is all out).
    replaces: usize,
}

impl<T> JsonParseErrors<T> {
    /// Wraps a connection.
    pub fn new(inner: T) -> Self {
        JsonParseErrors {
            inner,
            pending: None,
        }
    }
}

/// The error hyper's answer `head` stands for, if it is one of its automatic answers.
fn automatic_answer(head: &[u8]) -> Option<AppError> {
    if head.len() > MAX_AUTOMATIC_HEAD || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let head = &text[..text.len() - 4];
    if head.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let error = match rest.get(..4)? {
        "400 " => AppError::BadRequest("the request could not be read as HTTP/1.1".into()),
        "414 " => AppError::UriTooLong(MAX_URI_BYTES),
        "431 " => AppError::HeadersTooLarge,
        _ => return None,
    };
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-length" if value.trim() == "0" => empty = true,
            "content-length" | "content-type" | "transfer-encoding" => return None,
            _ => {}
        }
    }
    empty.then_some(error)
}

/// The whole answer for `error`: its status, the JSON body, `connection: close` (hyper
/// closes after a parse error), and the `date` hyper gave.
fn answer(error: &AppError, hyper_head: &[u8]) -> Vec<u8> {
    let (status, _) = error.status_and_code();
    let body = serde_json::to_vec(&error.body()).unwrap_or_else(|_| b"{}".to_vec());
    let date = std::str::from_utf8(hyper_head)
        .ok()
        .and_then(|head| {
            head.split("\r\n")
                .find(|line| line.to_ascii_lowercase().starts_with("date:"))
        })
        .map(|line| format!("{line}\r\n"))
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n{date}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

impl<T: AsyncWrite + Unpin> JsonParseErrors<T> {
    /// Writes the pending replacement; ready with the length of hyper's bytes it replaced.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(pending) = self.pending.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while pending.written < pending.bytes.len() {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(cx, &pending.bytes[pending.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            pending.written += n;
        }
        let replaces = pending.replaces;
        self.pending = None;
        Poll::Ready(Ok(replaces))
    }

    /// Starts replacing `head` if it is one of hyper's automatic answers.
    fn recognise(&mut self, head: &[u8]) -> bool {
        if self.pending.is_none()
            && let Some(error) = automatic_answer(head)
        {
            tracing::debug!(status = %error.status_and_code().0, "unparsable request answered");
            self.pending = Some(Replacement {
                bytes: answer(&error, head),
                written: 0,
                replaces: head.len(),
            });
        }
        self.pending.is_some()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonParseErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.recognise(buf) {
            return this.poll_replacement(cx);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // hyper writes an automatic answer's head alone, as one slice.
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && this.recognise(only)
        {
            return this.poll_replacement(cx);
        }
        if this.pending.is_some() {
            return this.poll_replacement(cx);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn only_hypers_automatic_answers_are_recognised() {
        let date = "date: Thu, 01 Jan 2026 00:00:00 GMT\r\n";
        for (status, code) in [("400 Bad Request", 400), ("414 URI Too Long", 414)] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n{date}\r\n");
            let error = automatic_answer(head.as_bytes()).expect(status);
            assert_eq!(error.status_and_code().0.as_u16(), code);
        }
        let head = format!(
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n{date}\r\n"
        );
        assert!(matches!(
            automatic_answer(head.as_bytes()),
            Some(AppError::HeadersTooLarge)
        ));
        let not_ours = [
            // The application's errors carry a body.
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 60\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{\"x\":1}",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            "{\"error\": \"HTTP/1.1 400 \"}\r\n\r\n",
        ];
        for head in not_ours {
            assert!(automatic_answer(head.as_bytes()).is_none(), "{head:?}");
        }
    }

    #[tokio::test]
    async fn the_automatic_answer_goes_out_with_the_json_body() {
        let mut out = JsonParseErrors::new(Vec::new());
        let head = "HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        out.write_all(head.as_bytes()).await.unwrap();
        // Anything else passes through unchanged.
        out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .await
            .unwrap();
        let text = String::from_utf8(out.inner).unwrap();
        let (answer, rest) = text.split_at(text.find("HTTP/1.1 200").unwrap());
        assert_eq!(rest, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("date: Thu, 01 Jan 2026"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "uri_too_long");
        assert!(json["error"]["message"].as_str().unwrap().contains("65534"));
    }
}
