//! What airbundle reads of an `--airadm-binary` before packing it: the ELF header's machine, and
//! whether a program header asks for a dynamic loader (`PT_INTERP`), which only a node with that
//! loader and its libc can run.

use std::io::{self, Read, Seek, SeekFrom};

/// `PT_INTERP`: the program names its dynamic loader.
const PT_INTERP: u32 = 3;
/// More program headers than any executable has: a header claiming more is not read.
const MAX_PROGRAM_HEADERS_SIZE: u64 = 64 * 1024;

/// An ELF executable, as far as airbundle looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elf {
    /// `e_machine`.
    pub machine: u16,
    /// Whether it is dynamically linked (has a `PT_INTERP` program header).
    pub dynamic: bool,
}

/// Reads `file`'s ELF header and program headers; `None` when it is not an ELF file.
pub fn read(file: &mut (impl Read + Seek)) -> io::Result<Option<Elf>> {
    let mut header = Vec::with_capacity(64);
    let n = file.by_ref().take(64).read_to_end(&mut header)?;
    if n < 52 || header[..4] != *b"\x7fELF" {
        return Ok(None);
    }
    let big = header[5] == 2;
    let u16_at = |at: usize| {
        let bytes = [header[at], header[at + 1]];
        if big { u16::from_be_bytes(bytes) } else { u16::from_le_bytes(bytes) }
    };
    let u32_at = |b: &[u8], at: usize| {
        let bytes = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if big { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) }
    };
    let machine = u16_at(18);
    // ELFCLASS64 or ELFCLASS32: where the program headers are, their size and number.
    let (offset, size, count) = match header[4] {
        2 if n == 64 => {
            let mut offset = [0u8; 8];
            offset.copy_from_slice(&header[32..40]);
            let offset = if big { u64::from_be_bytes(offset) } else { u64::from_le_bytes(offset) };
            (offset, u16_at(54), u16_at(56))
        }
        1 => (u64::from(u32_at(&header, 28)), u16_at(42), u16_at(44)),
        _ => return Ok(None),
    };
    let total = u64::from(size) * u64::from(count);
    if size < 4 || total > MAX_PROGRAM_HEADERS_SIZE {
        return Ok(Some(Elf { machine, dynamic: false }));
    }
    let mut headers = Vec::with_capacity(total as usize);
    file.seek(SeekFrom::Start(offset))?;
    file.take(total).read_to_end(&mut headers)?;
    let dynamic = headers.chunks_exact(usize::from(size)).any(|h| u32_at(h, 0) == PT_INTERP);
    Ok(Some(Elf { machine, dynamic }))
}

/// The ELF machine of a Go architecture name.
pub fn machine_of(arch: &str) -> Option<u16> {
    Some(match arch {
        "amd64" => 62,
        "arm64" => 183,
        "arm" => 40,
        "ppc64le" => 21,
        "s390x" => 22,
        "riscv64" => 243,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::{Elf, machine_of, read};

    /// A little-endian ELF64 header with program headers of the given types right after it.
    fn elf64(machine: u16, types: &[u32]) -> Vec<u8> {
        let mut file = vec![0u8; 64];
        file[..4].copy_from_slice(b"\x7fELF");
        file[4] = 2;
        file[5] = 1;
        file[18..20].copy_from_slice(&machine.to_le_bytes());
        file[32..40].copy_from_slice(&64u64.to_le_bytes());
        file[54..56].copy_from_slice(&56u16.to_le_bytes());
        file[56..58].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for t in types {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&t.to_le_bytes());
            file.extend(header);
        }
        file
    }

    #[test]
    fn machines_and_dynamic_loaders_are_read_from_the_headers() {
        let static_arm64 = elf64(183, &[6, 1, 1]);
        assert_eq!(read(&mut Cursor::new(static_arm64)).unwrap(), Some(Elf { machine: 183, dynamic: false }));
        let dynamic_amd64 = elf64(62, &[6, 3, 1]);
        assert_eq!(read(&mut Cursor::new(dynamic_amd64)).unwrap(), Some(Elf { machine: 62, dynamic: true }));
        assert_eq!(machine_of("amd64"), Some(62));
        assert_eq!(read(&mut Cursor::new(b"#!/bin/sh\necho hi\n".to_vec())).unwrap(), None);
    }

    /// The test binary itself: this build's host executable, dynamically linked.
    #[test]
    fn this_test_binary_reads_as_a_dynamic_executable_for_its_machine() {
        let exe = std::env::current_exe().unwrap();
        let elf = read(&mut fs_err::File::open(exe).unwrap()).unwrap().unwrap();
        assert_eq!(Some(elf.machine), machine_of(if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }));
        assert_eq!(elf.dynamic, cfg!(target_env = "gnu"));
    }
}
