use super::*;

#[test]
fn elf_machines_are_read_from_the_header() {
    let mut header = [0u8; 20];
    header[..4].copy_from_slice(b"\x7fELF");
    header[5] = 1;
    header[18] = 62;
    assert_eq!(elf_machine(&header), Some(62));
    assert_eq!(elf_machine_of("amd64"), Some(62));
    header[0] = b'#';
    assert_eq!(elf_machine(&header), None);
}
