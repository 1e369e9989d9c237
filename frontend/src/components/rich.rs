//! A message's text on screen: the tree of `natter_shared::markdown` made into elements.
//! Every piece of user text is a text node inside a `<bdi>`, so a bidirectional control
//! reorders at most its own run, never the author, the time or the text around it; nothing
//! is ever HTML. Links open in a new tab, without referrer or opener.

use leptos::prelude::*;
use natter_shared::markdown::{self, Block, Inline};

/// The body of a message, rendered from its Markdown source.
pub fn body(source: &str) -> Vec<AnyView> {
    blocks(&markdown::parse(source))
}

fn blocks(blocks: &[Block]) -> Vec<AnyView> {
    blocks.iter().map(block).collect()
}

fn block(block: &Block) -> AnyView {
    match block {
        Block::Paragraph(v) => view! { <p>{inlines(v)}</p> }.into_any(),
        Block::Heading(v) => view! { <p><strong>{inlines(v)}</strong></p> }.into_any(),
        Block::Code { lang, text } => {
            let class = lang.as_ref().map(|l| format!("language-{l}"));
            view! { <pre><code class=class><bdi>{text.clone()}</bdi></code></pre> }.into_any()
        }
        Block::Quote(inner) => view! { <blockquote>{blocks(inner)}</blockquote> }.into_any(),
        Block::List { start: None, items } => view! { <ul>{list_items(items)}</ul> }.into_any(),
        Block::List {
            start: Some(start),
            items,
        } => view! { <ol start=start.to_string()>{list_items(items)}</ol> }.into_any(),
        Block::Rule => view! { <hr/> }.into_any(),
    }
}

fn list_items(items: &[Vec<Block>]) -> Vec<AnyView> {
    items
        .iter()
        .map(|item| view! { <li>{blocks(item)}</li> }.into_any())
        .collect()
}

fn inlines(inlines: &[Inline]) -> Vec<AnyView> {
    inlines.iter().map(inline).collect()
}

fn inline(inline: &Inline) -> AnyView {
    match inline {
        Inline::Text(t) => view! { <bdi>{t.clone()}</bdi> }.into_any(),
        Inline::Code(t) => view! { <code><bdi>{t.clone()}</bdi></code> }.into_any(),
        Inline::Emphasis(v) => view! { <em>{inlines(v)}</em> }.into_any(),
        Inline::Strong(v) => view! { <strong>{inlines(v)}</strong> }.into_any(),
        Inline::Strikethrough(v) => view! { <del>{inlines(v)}</del> }.into_any(),
        Inline::Link { href, children } => view! {
            <a href=href.clone() target="_blank" rel="noopener noreferrer nofollow">
                {inlines(children)}
            </a>
        }
        .into_any(),
        Inline::Break => view! { <br/> }.into_any(),
        Inline::Mention(name) => {
            view! { <span class="mention"><bdi>"@" {name.clone()}</bdi></span> }.into_any()
        }
    }
}
