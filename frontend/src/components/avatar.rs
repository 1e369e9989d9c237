//! A person's picture, with their initials underneath until (and unless) it loads.

use leptos::prelude::*;

/// Up to two letters for a name: "alice" → "A", "bob-smith" → "BS".
pub fn initials(name: &str) -> String {
    let mut parts = name
        .split(['-', '_', '.', ' '])
        .filter_map(|p| p.chars().next());
    let first = parts.next();
    let second = parts.next();
    first
        .into_iter()
        .chain(second)
        .flat_map(char::to_uppercase)
        .collect()
}

/// A hue from the name, so that each person keeps one colour.
fn hue(name: &str) -> u32 {
    name.bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360
}

/// The picture is the background of a layer over the initials (see the stylesheet): drawn
/// when it loads, nothing when the user has none (the server answers 404), so the initials
/// show through. One element and no listener, since the message list draws one per group
/// of messages.
#[component]
pub fn Avatar(
    name: String,
    /// Changed after the picture was: asks past the browser's cache.
    #[prop(optional)]
    version: u32,
) -> impl IntoView {
    // Usernames are letters, digits, '_', '-' and '.': once encoded, nothing in them can
    // end the quoted `url()`.
    let mut src = format!(
        "url(\"/api/users/{}/avatar",
        js_sys::encode_uri_component(&name)
    );
    if version > 0 {
        src.push_str(&format!("?v={version}"));
    }
    src.push_str("\")");
    // Set through the element's style object: the page's security policy refuses a
    // `style` attribute.
    view! {
        <span class="avatar" style:--avatar-hue=hue(&name).to_string() style:--avatar-src=src
            aria-hidden="true">{initials(&name)}</span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn initials_take_the_first_letters_of_the_name_parts() {
        assert_eq!(initials("alice"), "A");
        assert_eq!(initials("bob-smith"), "BS");
        assert_eq!(initials("x_y_z"), "XY");
        assert_eq!(initials("élodie"), "É");
    }
}
