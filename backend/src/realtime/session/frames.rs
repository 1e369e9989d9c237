//! Text frames that arrive in fragments: put together, or refused when binary, not UTF-8 or
//! larger than a frame may be. Refusals are error frames; the socket stays open.

use actix_http::ws::Item;
use natter_shared::ErrorKind;
use natter_shared::limits::MAX_FRAME_BYTES;

/// A fragmented text frame being put together.
#[derive(Debug, Default)]
pub struct Fragments {
    buf: Option<Vec<u8>>,
}

/// What one fragment made.
#[derive(Debug, PartialEq, Eq)]
pub enum Fragment {
    /// More is to come.
    Pending,
    /// A whole text frame.
    Text(String),
    /// Refused, with the error to answer.
    Refused(ErrorKind, String),
}

impl Fragments {
    pub fn push(&mut self, item: Item) -> Fragment {
        let made = match item {
            Item::FirstText(bytes) => {
                self.buf = Some(bytes.to_vec());
                Fragment::Pending
            }
            Item::FirstBinary(_) => {
                self.buf = None;
                Fragment::Refused(
                    ErrorKind::InvalidRequest,
                    "frames are JSON text, not binary".into(),
                )
            }
            Item::Continue(bytes) => {
                if let Some(buf) = &mut self.buf {
                    buf.extend_from_slice(&bytes);
                }
                Fragment::Pending
            }
            Item::Last(bytes) => match self.buf.take() {
                Some(mut buf) => {
                    buf.extend_from_slice(&bytes);
                    match String::from_utf8(buf) {
                        Ok(text) => Fragment::Text(text),
                        Err(_) => Fragment::Refused(
                            ErrorKind::MalformedJson,
                            "frames are UTF-8 text".into(),
                        ),
                    }
                }
                // The start was refused already.
                None => Fragment::Pending,
            },
        };
        if self.buf.as_ref().is_some_and(|b| b.len() > MAX_FRAME_BYTES) {
            self.buf = None;
            return Fragment::Refused(
                ErrorKind::PayloadTooLarge,
                format!("frames hold at most {MAX_FRAME_BYTES} bytes"),
            );
        }
        made
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::web::Bytes;

    fn text(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn fragments_make_one_text_frame() {
        let mut f = Fragments::default();
        assert_eq!(
            f.push(Item::FirstText(text("{\"type\":"))),
            Fragment::Pending
        );
        assert_eq!(
            f.push(Item::Continue(text("\"typing\","))),
            Fragment::Pending
        );
        assert_eq!(
            f.push(Item::Last(text("\"room_id\":1}"))),
            Fragment::Text("{\"type\":\"typing\",\"room_id\":1}".into())
        );
    }

    #[test]
    fn binary_bad_utf8_and_oversize_are_refused_and_the_next_frame_starts_afresh() {
        let mut f = Fragments::default();
        assert!(matches!(
            f.push(Item::FirstBinary(text("x"))),
            Fragment::Refused(ErrorKind::InvalidRequest, _)
        ));
        assert_eq!(
            f.push(Item::Last(text("y"))),
            Fragment::Pending,
            "its end is dropped"
        );
        f.push(Item::FirstText(Bytes::from_static(b"\xff")));
        assert!(matches!(
            f.push(Item::Last(text(""))),
            Fragment::Refused(ErrorKind::MalformedJson, _)
        ));
        f.push(Item::FirstText(text("x")));
        let big = Bytes::from(vec![b'x'; MAX_FRAME_BYTES]);
        assert!(matches!(
            f.push(Item::Continue(big)),
            Fragment::Refused(ErrorKind::PayloadTooLarge, _)
        ));
        assert_eq!(
            f.push(Item::Last(text("x"))),
            Fragment::Pending,
            "the rest is dropped"
        );
        f.push(Item::FirstText(text("{")));
        assert_eq!(f.push(Item::Last(text("}"))), Fragment::Text("{}".into()));
    }
}
