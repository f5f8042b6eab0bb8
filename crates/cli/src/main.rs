//! The `smallmind` command line.

fn main() {}
