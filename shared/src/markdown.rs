//! Message text as Markdown: a CommonMark subset parsed (by pulldown-cmark) into a small
//! typed tree that the web app renders as elements. Nothing in the tree is HTML: raw HTML in
//! the source comes out as text, links are kept only for `http`, `https` and `mailto`, images
//! become their description, and bare URLs become links. The stored body stays the source.
//!
//! Containers nest at most [`MAX_DEPTH`] deep; deeper ones give their content to the one
//! around them, so that a thousand nested quotes cost no more than their text.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// How deep quotes, lists and spans nest before deeper ones are flattened.
pub const MAX_DEPTH: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    /// A heading: shown as a strong paragraph (a chat message has no document outline).
    Heading(Vec<Inline>),
    /// A fenced or indented code block, with the fence's language if it named one.
    Code {
        lang: Option<String>,
        text: String,
    },
    Quote(Vec<Block>),
    /// A list; `start` is the first number of an ordered one.
    List {
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    Rule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Code(String),
    Emphasis(Vec<Inline>),
    Strong(Vec<Inline>),
    Strikethrough(Vec<Inline>),
    /// A link to an `http`, `https` or `mailto` address.
    Link {
        href: String,
        children: Vec<Inline>,
    },
    /// A line break (a single newline in a chat message is one).
    Break,
    /// `@name` (without the `@`): see [`crate::mentions`].
    Mention(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Emphasis,
    Strong,
    Strikethrough,
    /// A link whose address is not allowed: its text only.
    Plain,
}

enum Frame {
    Blocks(Vec<Block>),
    Quote(Vec<Block>),
    List(Option<u64>, Vec<Vec<Block>>),
    /// A list item: its blocks, and the inlines of a tight item not yet in a paragraph.
    Item(Vec<Block>, Vec<Inline>),
    Paragraph(Vec<Inline>),
    Heading(Vec<Inline>),
    Code(Option<String>, String),
    Span(Span, Vec<Inline>),
    Link(String, Vec<Inline>),
    /// A container past the depth limit, or one shown by its content alone (an image):
    /// what it holds goes to the frame below.
    Transparent,
}

impl Frame {
    fn is_container(&self) -> bool {
        matches!(
            self,
            Frame::Quote(_) | Frame::List(..) | Frame::Item(..) | Frame::Span(..) | Frame::Link(..)
        )
    }
}

struct Builder {
    stack: Vec<Frame>,
    depth: usize,
}

impl Builder {
    /// The frame content goes to: the top one that is not transparent.
    fn target(&mut self) -> &mut Frame {
        let at = self
            .stack
            .iter()
            .rposition(|f| !matches!(f, Frame::Transparent))
            .unwrap_or(0);
        &mut self.stack[at]
    }

    fn push_inline(&mut self, inline: Inline) {
        match self.target() {
            Frame::Paragraph(v) | Frame::Heading(v) | Frame::Span(_, v) | Frame::Link(_, v) => {
                v.push(inline)
            }
            Frame::Item(_, pending) => pending.push(inline),
            Frame::Code(_, text) => text.push_str(&plain(&[inline])),
            Frame::Blocks(blocks) | Frame::Quote(blocks) => match blocks.last_mut() {
                Some(Block::Paragraph(v)) => v.push(inline),
                _ => blocks.push(Block::Paragraph(vec![inline])),
            },
            Frame::List(_, items) => match items.last_mut() {
                Some(item) => item.push(Block::Paragraph(vec![inline])),
                None => items.push(vec![Block::Paragraph(vec![inline])]),
            },
            Frame::Transparent => {}
        }
    }

    fn push_block(&mut self, block: Block) {
        match self.target() {
            Frame::Blocks(blocks) | Frame::Quote(blocks) => blocks.push(block),
            Frame::Item(blocks, pending) => {
                if !pending.is_empty() {
                    blocks.push(Block::Paragraph(std::mem::take(pending)));
                }
                blocks.push(block);
            }
            Frame::List(_, items) => match items.last_mut() {
                Some(item) => item.push(block),
                None => items.push(vec![block]),
            },
            // A block inside inline content (only past the depth limit): its text.
            _ => {
                let text = block_text(&block);
                if !text.is_empty() {
                    self.push_inline(Inline::Text(text));
                }
            }
        }
    }

    fn open(&mut self, frame: Frame) {
        if frame.is_container() {
            if self.depth >= MAX_DEPTH {
                self.stack.push(Frame::Transparent);
                return;
            }
            self.depth += 1;
        }
        self.stack.push(frame);
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if frame.is_container() {
            self.depth -= 1;
        }
        match frame {
            Frame::Paragraph(v) if !v.is_empty() => self.push_block(Block::Paragraph(v)),
            Frame::Heading(v) if !v.is_empty() => self.push_block(Block::Heading(v)),
            Frame::Code(lang, mut text) => {
                if text.ends_with('\n') {
                    text.pop();
                }
                self.push_block(Block::Code { lang, text });
            }
            Frame::Quote(blocks) => self.push_block(Block::Quote(blocks)),
            Frame::List(start, items) => self.push_block(Block::List { start, items }),
            Frame::Item(mut blocks, pending) => {
                if !pending.is_empty() {
                    blocks.push(Block::Paragraph(pending));
                }
                if let Frame::List(_, items) = self.target() {
                    items.push(blocks);
                } else {
                    for block in blocks {
                        self.push_block(block);
                    }
                }
            }
            Frame::Span(kind, children) => self.push_inline(match kind {
                Span::Emphasis => Inline::Emphasis(children),
                Span::Strong => Inline::Strong(children),
                Span::Strikethrough => Inline::Strikethrough(children),
                Span::Plain => Inline::Text(plain(&children)),
            }),
            Frame::Link(href, children) => self.push_inline(Inline::Link { href, children }),
            Frame::Blocks(_) | Frame::Paragraph(_) | Frame::Heading(_) | Frame::Transparent => {}
        }
    }

    fn in_link(&self) -> bool {
        self.stack.iter().any(|f| matches!(f, Frame::Link(..)))
    }

    fn text(&mut self, text: &str) {
        if self.in_link() || matches!(self.target(), Frame::Code(..)) {
            return self.push_inline(Inline::Text(text.to_owned()));
        }
        for inline in linkify(text) {
            match inline {
                Inline::Text(t) => self.mentions(t),
                other => self.push_inline(other),
            }
        }
    }

    /// Text, with its mentions apart.
    fn mentions(&mut self, text: String) {
        let found = crate::mentions::scan(&text);
        if found.is_empty() {
            return self.push_inline(Inline::Text(text));
        }
        let mut from = 0;
        for (range, name) in found {
            if range.start > from {
                self.push_inline(Inline::Text(text[from..range.start].to_owned()));
            }
            self.push_inline(Inline::Mention(name.to_owned()));
            from = range.end;
        }
        if from < text.len() {
            self.push_inline(Inline::Text(text[from..].to_owned()));
        }
    }
}

/// Parses a message body.
pub fn parse(source: &str) -> Vec<Block> {
    let options = Options::ENABLE_STRIKETHROUGH;
    let mut b = Builder {
        stack: vec![Frame::Blocks(Vec::new())],
        depth: 0,
    };
    // The parser splits a run of text at some characters (`(`, `_`...): a run is put back
    // together before bare addresses are looked for in it.
    let mut run = String::new();
    for event in Parser::new_ext(source, options) {
        if let Event::Text(t) = &event {
            run.push_str(t);
            continue;
        }
        if !run.is_empty() {
            b.text(&std::mem::take(&mut run));
        }
        match event {
            Event::Start(tag) => {
                let frame = match tag {
                    Tag::Paragraph | Tag::HtmlBlock => Frame::Paragraph(Vec::new()),
                    Tag::Heading { .. } => Frame::Heading(Vec::new()),
                    Tag::BlockQuote(_) => Frame::Quote(Vec::new()),
                    Tag::CodeBlock(kind) => Frame::Code(language(&kind), String::new()),
                    Tag::List(start) => Frame::List(start, Vec::new()),
                    Tag::Item => Frame::Item(Vec::new(), Vec::new()),
                    Tag::Emphasis => Frame::Span(Span::Emphasis, Vec::new()),
                    Tag::Strong => Frame::Span(Span::Strong, Vec::new()),
                    Tag::Strikethrough => Frame::Span(Span::Strikethrough, Vec::new()),
                    Tag::Link { dest_url, .. } => match safe_href(&dest_url) {
                        Some(href) => Frame::Link(href, Vec::new()),
                        None => Frame::Span(Span::Plain, Vec::new()),
                    },
                    _ => Frame::Transparent,
                };
                b.open(frame);
            }
            Event::End(end) => {
                // Every start pushed exactly one frame; its end pops it.
                let _: TagEnd = end;
                b.close();
            }
            Event::Text(_) => {}
            Event::Code(t) => b.push_inline(Inline::Code(t.into_string())),
            Event::Html(t) | Event::InlineHtml(t) => b.push_inline(Inline::Text(t.into_string())),
            Event::SoftBreak | Event::HardBreak => b.push_inline(Inline::Break),
            Event::Rule => b.push_block(Block::Rule),
            Event::FootnoteReference(t) => b.push_inline(Inline::Text(format!("[^{t}]"))),
            Event::TaskListMarker(done) => {
                b.push_inline(Inline::Text(if done { "[x] " } else { "[ ] " }.into()))
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => {
                b.push_inline(Inline::Text(t.into_string()))
            }
        }
    }
    if !run.is_empty() {
        b.text(&run);
    }
    while b.stack.len() > 1 {
        b.close();
    }
    match b.stack.pop() {
        Some(Frame::Blocks(blocks)) => blocks,
        _ => Vec::new(),
    }
}

fn language(kind: &CodeBlockKind<'_>) -> Option<String> {
    let CodeBlockKind::Fenced(info) = kind else {
        return None;
    };
    let lang: String = info
        .split_whitespace()
        .next()?
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+-_#.".contains(*c))
        .take(32)
        .collect();
    (!lang.is_empty()).then_some(lang)
}

/// The address, if it is one a link may go to: `http`, `https` or `mailto`.
pub fn safe_href(url: &str) -> Option<String> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    let ok = ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
    let clean = !trimmed.chars().any(|c| c.is_control() || c.is_whitespace());
    (ok && clean).then(|| trimmed.to_owned())
}

/// Bare `http://` and `https://` addresses in text, made links; trailing punctuation and an
/// unbalanced closing parenthesis stay text.
fn linkify(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut rest = text;
    while let Some(at) = find_url(rest) {
        pending.push_str(&rest[..at]);
        let tail = &rest[at..];
        let scheme = if tail.to_ascii_lowercase().starts_with("https://") {
            "https://".len()
        } else {
            "http://".len()
        };
        let end = url_end(tail);
        if end > scheme
            && let Some(href) = safe_href(&tail[..end])
        {
            if !pending.is_empty() {
                out.push(Inline::Text(std::mem::take(&mut pending)));
            }
            out.push(Inline::Link {
                href,
                children: vec![Inline::Text(tail[..end].to_owned())],
            });
            rest = &tail[end..];
            continue;
        }
        // A scheme and nothing after it: text.
        pending.push_str(&tail[..scheme]);
        rest = &tail[scheme..];
    }
    pending.push_str(rest);
    if !pending.is_empty() {
        out.push(Inline::Text(pending));
    }
    out
}

/// Where a bare address starting `tail` ends: at white space or `<>"`, less trailing
/// punctuation and an unbalanced closing parenthesis.
fn url_end(tail: &str) -> usize {
    let mut end = tail
        .find(|c: char| c.is_whitespace() || "<>\"".contains(c))
        .unwrap_or(tail.len());
    while let Some(last) = tail[..end].chars().last() {
        let url = &tail[..end];
        let unbalanced = last == ')' && url.matches('(').count() < url.matches(')').count();
        if ".,:;!?'*_~".contains(last) || unbalanced {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    end
}

/// Where the next bare address starts: `http://` or `https://` not inside a word.
fn find_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let starts = lower[at..].starts_with("http://") || lower[at..].starts_with("https://");
        let boundary = text[..at]
            .chars()
            .last()
            .is_none_or(|c| !c.is_alphanumeric());
        if starts && boundary {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// The text of inlines, without their markup.
pub fn plain(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for inline in inlines {
        match inline {
            Inline::Text(t) | Inline::Code(t) => out.push_str(t),
            Inline::Emphasis(v) | Inline::Strong(v) | Inline::Strikethrough(v) => {
                out.push_str(&plain(v))
            }
            Inline::Link { children, .. } => out.push_str(&plain(children)),
            Inline::Break => out.push('\n'),
            Inline::Mention(name) => {
                out.push('@');
                out.push_str(name);
            }
        }
    }
    out
}

fn block_text(block: &Block) -> String {
    match block {
        Block::Paragraph(v) | Block::Heading(v) => plain(v),
        Block::Code { text, .. } => text.clone(),
        Block::Quote(blocks) => blocks.iter().map(block_text).collect::<Vec<_>>().join("\n"),
        Block::List { items, .. } => items
            .iter()
            .flat_map(|item| item.iter().map(block_text))
            .collect::<Vec<_>>()
            .join("\n"),
        Block::Rule => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Inline {
        Inline::Text(s.into())
    }

    fn para(v: Vec<Inline>) -> Vec<Block> {
        vec![Block::Paragraph(v)]
    }

    #[test]
    fn plain_text_is_one_paragraph_and_newlines_are_breaks() {
        assert_eq!(parse("hello"), para(vec![text("hello")]));
        assert_eq!(
            parse("one\ntwo"),
            para(vec![text("one"), Inline::Break, text("two")])
        );
        assert_eq!(parse(""), vec![]);
    }

    #[test]
    fn emphasis_strong_strikethrough_and_code() {
        assert_eq!(
            parse("*a* **b** ~~c~~ `d`"),
            para(vec![
                Inline::Emphasis(vec![text("a")]),
                text(" "),
                Inline::Strong(vec![text("b")]),
                text(" "),
                Inline::Strikethrough(vec![text("c")]),
                text(" "),
                Inline::Code("d".into()),
            ])
        );
    }

    #[test]
    fn blocks_code_quotes_lists_and_rules() {
        assert_eq!(
            parse("```rust\nfn main() {}\n```"),
            vec![Block::Code {
                lang: Some("rust".into()),
                text: "fn main() {}".into()
            }]
        );
        assert_eq!(
            parse("> quoted"),
            vec![Block::Quote(para(vec![text("quoted")]))]
        );
        assert_eq!(
            parse("- a\n- b"),
            vec![Block::List {
                start: None,
                items: vec![para(vec![text("a")]), para(vec![text("b")])]
            }]
        );
        assert_eq!(
            parse("3. c"),
            vec![Block::List {
                start: Some(3),
                items: vec![para(vec![text("c")])]
            }]
        );
        assert_eq!(parse("a\n\n---\n\nb")[1], Block::Rule);
        assert_eq!(parse("# Title"), vec![Block::Heading(vec![text("Title")])]);
    }

    #[test]
    fn links_only_to_safe_schemes() {
        assert_eq!(
            parse("[site](https://example.com/a)"),
            para(vec![Inline::Link {
                href: "https://example.com/a".into(),
                children: vec![text("site")]
            }])
        );
        for bad in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](vbscript:msgbox)",
            "[x](/relative)",
        ] {
            let blocks = parse(bad);
            assert_eq!(blocks, para(vec![text("x")]), "{bad}");
        }
        assert_eq!(
            parse("[mail](mailto:a@example.com)"),
            para(vec![Inline::Link {
                href: "mailto:a@example.com".into(),
                children: vec![text("mail")]
            }])
        );
    }

    #[test]
    fn bare_urls_become_links_without_their_trailing_punctuation() {
        assert_eq!(
            parse("see https://example.com/x?y=1. ok"),
            para(vec![
                text("see "),
                Inline::Link {
                    href: "https://example.com/x?y=1".into(),
                    children: vec![text("https://example.com/x?y=1")]
                },
                text(". ok"),
            ])
        );
        let wiki = parse("(https://en.wikipedia.org/wiki/Rust_(language))");
        let Block::Paragraph(v) = &wiki[0] else {
            panic!("{wiki:?}")
        };
        assert!(v.contains(&Inline::Link {
            href: "https://en.wikipedia.org/wiki/Rust_(language)".into(),
            children: vec![text("https://en.wikipedia.org/wiki/Rust_(language)")]
        }));
        // Not inside a word, and not a bare scheme.
        assert_eq!(parse("xhttps://a.b"), para(vec![text("xhttps://a.b")]));
        assert_eq!(parse("https:// x"), para(vec![text("https:// x")]));
    }

    #[test]
    fn html_is_text_and_images_are_their_description() {
        assert_eq!(
            parse("<img src=x onerror=alert(1)>"),
            para(vec![text("<img src=x onerror=alert(1)>")])
        );
        let script = parse("<script>alert(1)</script>");
        assert_eq!(block_text(&script[0]), "<script>alert(1)</script>");
        assert_eq!(
            parse("![a cat](https://example.com/cat.png)"),
            para(vec![text("a cat")])
        );
    }

    #[test]
    fn deep_nesting_is_flattened_and_parsing_stays_linear() {
        let deep = format!("{}deep", "> ".repeat(1000));
        let blocks = parse(&deep);
        fn depth(blocks: &[Block]) -> usize {
            blocks
                .iter()
                .map(|b| match b {
                    Block::Quote(inner) => 1 + depth(inner),
                    _ => 0,
                })
                .max()
                .unwrap_or(0)
        }
        assert!(depth(&blocks) <= MAX_DEPTH);
        assert!(blocks.iter().map(block_text).any(|t| t.contains("deep")));
        // Hostile shapes of the longest message parse quickly (a generous bound, debug build).
        for hostile in [
            "*".repeat(4000),
            "[".repeat(4000),
            "_a".repeat(2000),
            "> ".repeat(2000),
            "- ".repeat(2000),
            "`".repeat(4000),
        ] {
            let start = std::time::Instant::now();
            let _ = parse(&hostile);
            assert!(
                start.elapsed() < std::time::Duration::from_secs(1),
                "{:?}",
                &hostile[..10]
            );
        }
    }
}
