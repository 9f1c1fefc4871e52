fn main() {
    let src = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    match naga::front::wgsl::parse_str(&src) {
        Err(e) => println!("parse error: {}", e.emit_to_string(&src)),
        Ok(m) => match naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all()).validate(&m) {
            Err(e) => println!("invalid: {e:?}"),
            Ok(_) => println!("ok"),
        },
    }
}
