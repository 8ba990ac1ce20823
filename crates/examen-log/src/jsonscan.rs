//! Finds the byte ranges of a `.json` log's top-level members, and of each element
//! of its `samples` array, without parsing values: a large log is then read one
//! sample at a time.

use std::io::{self, BufReader, Read};

/// Byte ranges of a JSON log object.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// `(key, start, end)` of each top-level member's value.
    pub(crate) members: Vec<(String, u64, u64)>,
    /// `(start, end)` of each element of the top-level `samples` array.
    pub(crate) samples: Vec<(u64, u64)>,
}

struct Scanner<R> {
    inner: BufReader<R>,
    pos: u64,
    peeked: Option<u8>,
}

type Scan<T> = Result<T, String>;

impl<R: Read> Scanner<R> {
    fn next(&mut self) -> io::Result<Option<u8>> {
        if let Some(b) = self.peeked.take() {
            self.pos += 1;
            return Ok(Some(b));
        }
        let mut b = [0u8; 1];
        loop {
            match self.inner.read(&mut b) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.pos += 1;
                    return Ok(Some(b[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.peeked.is_none() {
            let mut b = [0u8; 1];
            loop {
                match self.inner.read(&mut b) {
                    Ok(0) => return Ok(None),
                    Ok(_) => {
                        self.peeked = Some(b[0]);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(self.peeked)
    }

    fn skip_ws(&mut self) -> io::Result<Option<u8>> {
        while let Some(b) = self.peek()? {
            if b.is_ascii_whitespace() {
                self.next()?;
            } else {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    fn expect(&mut self, want: u8) -> io::Result<Scan<()>> {
        match self.next()? {
            Some(b) if b == want => Ok(Ok(())),
            Some(b) => Ok(Err(format!(
                "expected '{}' at byte {}, found '{}'",
                char::from(want),
                self.pos - 1,
                char::from(b).escape_default()
            ))),
            None => Ok(Err(format!(
                "expected '{}' at byte {}, found end of file",
                char::from(want),
                self.pos
            ))),
        }
    }

    /// Reads a string (opening quote already peeked), returning its raw bytes
    /// including quotes.
    fn string(&mut self) -> io::Result<Scan<Vec<u8>>> {
        let mut raw = Vec::new();
        if let Err(e) = self.expect(b'"')? {
            return Ok(Err(e));
        }
        raw.push(b'"');
        loop {
            match self.next()? {
                None => return Ok(Err("unterminated string".into())),
                Some(b'\\') => {
                    raw.push(b'\\');
                    match self.next()? {
                        Some(b) => raw.push(b),
                        None => return Ok(Err("unterminated string".into())),
                    }
                }
                Some(b'"') => {
                    raw.push(b'"');
                    return Ok(Ok(raw));
                }
                Some(b) => raw.push(b),
            }
        }
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> io::Result<Scan<()>> {
        match self.skip_ws()? {
            None => Ok(Err(format!("expected a value at byte {}", self.pos))),
            Some(b'"') => Ok(self.string()?.map(|_| ())),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        None => return Ok(Err("unterminated object or array".into())),
                        Some(b'"') => {
                            if let Err(e) = self.string()? {
                                return Ok(Err(e));
                            }
                        }
                        Some(b'{' | b'[') => {
                            self.next()?;
                            depth += 1;
                        }
                        Some(b'}' | b']') => {
                            self.next()?;
                            depth -= 1;
                            if depth == 0 {
                                return Ok(Ok(()));
                            }
                        }
                        Some(_) => {
                            self.next()?;
                        }
                    }
                }
            }
            Some(_) => {
                // number, true, false, null, NaN, Infinity: up to a delimiter
                while let Some(b) = self.peek()? {
                    if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                        break;
                    }
                    self.next()?;
                }
                Ok(Ok(()))
            }
        }
    }
}

/// Scans a JSON object from `reader`.
pub(crate) fn scan<R: Read>(reader: R) -> io::Result<Scan<Layout>> {
    let mut s = Scanner {
        inner: BufReader::with_capacity(256 * 1024, reader),
        pos: 0,
        peeked: None,
    };
    let mut layout = Layout::default();
    if s.skip_ws()? != Some(b'{') {
        return Ok(Err("expected a JSON object".into()));
    }
    s.next()?;
    if s.skip_ws()? == Some(b'}') {
        return Ok(Ok(layout));
    }
    loop {
        if s.skip_ws()? != Some(b'"') {
            return Ok(Err(format!("expected a member name at byte {}", s.pos)));
        }
        let raw = match s.string()? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let key: String = match serde_json::from_slice(&raw) {
            Ok(k) => k,
            Err(e) => return Ok(Err(format!("invalid member name: {e}"))),
        };
        s.skip_ws()?;
        if let Err(e) = s.expect(b':')? {
            return Ok(Err(e));
        }
        let first = s.skip_ws()?;
        let start = s.pos;
        if key == "samples" && first == Some(b'[') {
            s.next()?;
            if s.skip_ws()? == Some(b']') {
                s.next()?;
            } else {
                loop {
                    s.skip_ws()?;
                    let el_start = s.pos;
                    if let Err(e) = s.skip_value()? {
                        return Ok(Err(e));
                    }
                    layout.samples.push((el_start, s.pos));
                    match s.skip_ws()? {
                        Some(b',') => {
                            s.next()?;
                        }
                        Some(b']') => {
                            s.next()?;
                            break;
                        }
                        _ => {
                            return Ok(Err(format!(
                                "expected ',' or ']' in samples at byte {}",
                                s.pos
                            )))
                        }
                    }
                }
            }
        } else if let Err(e) = s.skip_value()? {
            return Ok(Err(e));
        }
        layout.members.push((key, start, s.pos));
        match s.skip_ws()? {
            Some(b',') => {
                s.next()?;
            }
            Some(b'}') => return Ok(Ok(layout)),
            _ => return Ok(Err(format!("expected ',' or '}}' at byte {}", s.pos))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_and_samples() {
        let text = br#" {"version": 2, "eval": {"a": "}]\"x"}, "samples": [ {"id": 1}, {"id": "b"} ], "n": NaN}"#;
        let layout = scan(&text[..]).unwrap().unwrap();
        let keys: Vec<&str> = layout.members.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(keys, ["version", "eval", "samples", "n"]);
        let (_, s, e) = &layout.members[1];
        assert_eq!(&text[*s as usize..*e as usize], br#"{"a": "}]\"x"}"#);
        let spans: Vec<&[u8]> = layout
            .samples
            .iter()
            .map(|(s, e)| &text[*s as usize..*e as usize])
            .collect();
        assert_eq!(spans, [&br#"{"id": 1}"#[..], &br#"{"id": "b"}"#[..]]);
        let (_, s, e) = &layout.members[3];
        assert_eq!(&text[*s as usize..*e as usize], b"NaN");
    }

    #[test]
    fn rejects_truncated_input() {
        assert!(scan(&br#"{"a": [1, 2"#[..]).unwrap().is_err());
        assert!(scan(&br#"[1]"#[..]).unwrap().is_err());
        assert!(scan(&br#"{"a" 1}"#[..]).unwrap().is_err());
    }
}
