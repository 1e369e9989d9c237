//! The Natter web app's entry point: Trunk builds this binary to wasm.

fn main() {
    natter_frontend::start();
}
