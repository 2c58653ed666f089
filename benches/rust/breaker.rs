//! (benchmark under construction on its own branch; replaced when it lands)
fn main() {}
