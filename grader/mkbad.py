#!/usr/bin/env python3
"""mkbad.py — write malformed ELF files for the kernel's loader to refuse.

    grader/mkbad.py OUTDIR REFERENCE_ELF
    grader/mkbad.py --list

Each file in OUTDIR is a copy of REFERENCE_ELF (a working static ELF64 x86_64
program, e.g. build/user/hello) with exactly one flaw, so `run bad_NAME` must
print `[k] load-error prog=bad_NAME reason="..."` and spawn nothing.  The
script checks its own work: every file it writes is re-read by a small ELF
checker (elf_flaws) and must break exactly the one rule it was made to break,
and the reference must break none.  Files are written with mode 0755.

Python 3 standard library only.
"""

import os
import struct
import sys

# ELF64 header: e_ident, e_type, e_machine, e_version, e_entry, e_phoff,
# e_shoff, e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum,
# e_shstrndx (System V ABI, little-endian).
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
# ELF64 program header: p_type, p_flags, p_offset, p_vaddr, p_paddr,
# p_filesz, p_memsz, p_align.
PHDR = struct.Struct("<IIQQQQQQ")

ELF_MAGIC = b"\x7fELF"
EI_CLASS = 4            # index of the class byte in e_ident
EI_DATA = 5             # index of the byte-order byte in e_ident
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1         # little-endian
EM_386 = 3
EM_X86_64 = 62
PT_LOAD = 1

PAGE = 4096
# First address no user mapping may reach (contract: the top user page
# 0x00007ffffffff000 and everything above are never mapped).
USER_TOP = 0x00007FFFFFFFF000
# Start of the kernel half, where the kernel image lives.
KERNEL_BASE = 0xFFFFFFFF80000000
# Addresses are 64-bit: a segment end at or past this has wrapped around.
ADDR_LIMIT = 1 << 64
# A loader should refuse any segment bigger than this: the machine has 128 MiB.
MEMSZ_LIMIT = 1 << 30
# What bad_huge asks for.
HUGE_MEMSZ = 64 << 30

# Every file written, in order, with the one rule of elf_flaws() it breaks.
BAD_FILES = [
    ("bad_magic", "magic"),              # e_ident starts "\x7fBAD", not "\x7fELF"
    ("bad_class", "class"),              # e_ident[EI_CLASS] = ELFCLASS32
    ("bad_machine", "machine"),          # e_machine = EM_386
    ("bad_trunc", "phdrs-outside-file"), # file cut in the middle of the program headers
    ("bad_phoff", "phdrs-outside-file"), # e_phoff points past the end of the file
    ("bad_phnum", "phdrs-outside-file"), # e_phnum = 0xffff: the table runs far past the end
    ("bad_kaddr", "vaddr-not-user"),     # a PT_LOAD's p_vaddr is in the kernel half
    ("bad_filesz", "filesz-gt-memsz"),   # a PT_LOAD's p_filesz > p_memsz
    ("bad_offset", "segment-outside-file"),  # p_offset + p_filesz runs past the end of file
    ("bad_wrap", "vaddr-wrap"),          # p_vaddr + p_memsz wraps past 2^64
    ("bad_entry", "entry-outside-load"), # e_entry lies in no PT_LOAD
    ("bad_align", "align"),              # p_vaddr % 4096 != p_offset % 4096
    ("bad_huge", "memsz-huge"),          # p_memsz = 64 GiB
    ("bad_empty", "empty"),              # a 0-byte file
    ("bad_text", "magic"),               # a shell script "#!/bin/sh ..."
]


def read_ehdr(data):
    """Return the ELF header fields of data as a list (data holds >= 64 bytes)."""
    return list(EHDR.unpack_from(data, 0))


def write_ehdr(data, fields):
    """Store the header fields into the bytearray data."""
    EHDR.pack_into(data, 0, *fields)


def phdr_offsets(data):
    """Return the file offset of every program header of a well-formed data."""
    eh = read_ehdr(data)
    return [eh[5] + i * eh[9] for i in range(eh[10])]


def read_phdr(data, off):
    """Return the program header at file offset off as a list."""
    return list(PHDR.unpack_from(data, off))


def write_phdr(data, off, fields):
    """Store program header fields at file offset off."""
    PHDR.pack_into(data, off, *fields)


def loads(data):
    """Return [(offset, phdr)] for every PT_LOAD of a well-formed data."""
    out = []
    for off in phdr_offsets(data):
        ph = read_phdr(data, off)
        if ph[0] == PT_LOAD:
            out.append((off, ph))
    return out


def contains(ph, addr):
    """True iff addr lies in the memory image [p_vaddr, p_vaddr + p_memsz)."""
    return ph[3] <= addr < ph[3] + ph[6]


# ---------------------------------------------------------------------------
# The checker: which rules does an ELF file break?

def header_flaws(data):
    """Return (flaws, done) for the ELF header; done means stop checking."""
    if len(data) == 0:
        return {"empty"}, True
    if data[:4] != ELF_MAGIC:
        return {"magic"}, True
    if len(data) < EHDR.size:
        return {"short"}, True
    if data[EI_CLASS] != ELFCLASS64:
        return {"class"}, True
    flaws = set()
    if data[EI_DATA] != ELFDATA2LSB:
        flaws.add("byte-order")
    eh = read_ehdr(data)
    if eh[2] != EM_X86_64:
        flaws.add("machine")
    if eh[9] != PHDR.size:
        return flaws | {"phentsize"}, True
    if eh[5] + eh[10] * eh[9] > len(data):
        return flaws | {"phdrs-outside-file"}, True
    return flaws, False


def segment_flaws(data, ph):
    """Return the rules one PT_LOAD header ph breaks."""
    flaws = set()
    end = ph[3] + ph[6]
    if end >= ADDR_LIMIT:
        flaws.add("vaddr-wrap")
    elif end > USER_TOP:
        flaws.add("vaddr-not-user")
    elif ph[6] > MEMSZ_LIMIT:
        flaws.add("memsz-huge")
    if ph[5] > ph[6]:
        flaws.add("filesz-gt-memsz")
    if ph[2] + ph[5] > len(data):
        flaws.add("segment-outside-file")
    if (ph[3] - ph[2]) % PAGE != 0:
        flaws.add("align")
    return flaws


def elf_flaws(data):
    """Return the set of loader rules the ELF image data breaks (empty: loadable)."""
    flaws, done = header_flaws(data)
    if done:
        return flaws
    segs = [ph for _, ph in loads(data)]
    if not segs:
        return flaws | {"no-load"}
    for ph in segs:
        flaws |= segment_flaws(data, ph)
    entry = read_ehdr(data)[4]
    if not any(contains(ph, entry) for ph in segs):
        flaws.add("entry-outside-load")
    return flaws


# ---------------------------------------------------------------------------
# The mutations: each takes the reference image and returns one bad image.

def pick_load(data, want):
    """Return (offset, phdr) of the first PT_LOAD for which want(phdr) is true."""
    for off, ph in loads(data):
        if want(ph):
            return off, ph
    raise LookupError("the reference ELF has no suitable PT_LOAD")


def entry_of(data):
    """Return e_entry."""
    return read_ehdr(data)[4]


def set_header(data, index, value):
    """Return a copy of data with header field index set to value."""
    out = bytearray(data)
    eh = read_ehdr(out)
    eh[index] = value
    write_ehdr(out, eh)
    return out


def set_segment(data, want, change):
    """Return a copy of data where change(phdr) edited the PT_LOAD picked by want."""
    out = bytearray(data)
    off, ph = pick_load(out, want)
    change(ph)
    write_phdr(out, off, ph)
    return out


def no_entry(data):
    """A PT_LOAD selector: segments that do not hold the entry point."""
    entry = entry_of(data)
    return lambda ph: not contains(ph, entry)


def last_no_entry(data):
    """A PT_LOAD selector: the last segment that does not hold the entry point."""
    entry = entry_of(data)
    last = [ph for _, ph in loads(data) if not contains(ph, entry)][-1]
    return lambda ph: ph == last


def make_magic(data):
    """Corrupt the magic number."""
    out = bytearray(data)
    out[0:4] = b"\x7fBAD"
    return out


def make_class(data):
    """Claim a 32-bit ELF."""
    out = bytearray(data)
    out[EI_CLASS] = ELFCLASS32
    return out


def make_machine(data):
    """Claim an i386 program."""
    return set_header(data, 2, EM_386)


def make_trunc(data):
    """Cut the file in the middle of its program-header table."""
    eh = read_ehdr(data)
    cut = eh[5] + eh[9] * (eh[10] // 2) + eh[9] // 2
    return bytearray(data[:cut])


def make_phoff(data):
    """Point e_phoff past the end of the file."""
    return set_header(data, 5, len(data) + 64)


def make_phnum(data):
    """Claim 0xffff program headers (0xffff is also PN_XNUM: no section 0 says otherwise)."""
    return set_header(data, 10, 0xFFFF)


def make_kaddr(data):
    """Move a segment that does not hold the entry point into the kernel half."""
    def change(ph):
        ph[3] = KERNEL_BASE + ph[3] % PAGE
    return set_segment(data, last_no_entry(data), change)


def make_filesz(data):
    """Give the segment with a .bss tail a p_filesz past its p_memsz."""
    def change(ph):
        ph[5] = ph[6] + 8
    return set_segment(data, lambda ph: ph[6] > ph[5] and ph[2] + ph[6] + 8 <= len(data),
                       change)


def make_offset(data):
    """Move the biggest segment's file offset so it runs past the end of the file."""
    biggest = max((ph for _, ph in loads(data)), key=lambda ph: ph[5])

    def change(ph):
        start = (len(data) - ph[5] // 2) & ~(PAGE - 1)
        ph[2] = start + ph[3] % PAGE
    return set_segment(data, lambda ph: ph == biggest, change)


def make_wrap(data):
    """Make a segment end 4 KiB past 2^64, i.e. wrap around to 0x1000."""
    def change(ph):
        ph[6] = ADDR_LIMIT - ph[3] + PAGE
    return set_segment(data, last_no_entry(data), change)


def make_entry(data):
    """Put e_entry two pages above the highest segment."""
    top = max(ph[3] + ph[6] for _, ph in loads(data))
    return set_header(data, 4, (top + 2 * PAGE) & ~(PAGE - 1))


def make_align(data):
    """Shift a segment's file offset by 8 bytes, off its page offset in memory."""
    def change(ph):
        ph[2] -= 8
    return set_segment(data, lambda ph: ph[2] >= 8, change)


def make_huge(data):
    """Ask for a 64 GiB segment (still inside user space)."""
    def change(ph):
        ph[6] = HUGE_MEMSZ
    return set_segment(data, last_no_entry(data), change)


def make_empty(data):
    """An empty file."""
    return bytearray()


def make_text(data):
    """A shell script."""
    return bytearray(b"#!/bin/sh\necho this is a shell script, not an ELF program\n")


# Name -> mutation, one line each (same order as BAD_FILES).
MAKERS = {
    "bad_magic": make_magic,
    "bad_class": make_class,
    "bad_machine": make_machine,
    "bad_trunc": make_trunc,
    "bad_phoff": make_phoff,
    "bad_phnum": make_phnum,
    "bad_kaddr": make_kaddr,
    "bad_filesz": make_filesz,
    "bad_offset": make_offset,
    "bad_wrap": make_wrap,
    "bad_entry": make_entry,
    "bad_align": make_align,
    "bad_huge": make_huge,
    "bad_empty": make_empty,
    "bad_text": make_text,
}


def write_bad(outdir, name, image):
    """Write image to OUTDIR/name with mode 0755."""
    path = os.path.join(outdir, name)
    with open(path, "wb") as f:
        f.write(image)
    os.chmod(path, 0o755)


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        for name, _ in BAD_FILES:
            print(name)
        return 0
    if len(argv) != 3:
        print("usage: mkbad.py OUTDIR REFERENCE_ELF | mkbad.py --list", file=sys.stderr)
        return 2
    outdir, ref = argv[1], argv[2]
    try:
        with open(ref, "rb") as f:
            data = bytes(f.read())
    except OSError as e:
        print("mkbad: cannot read %s: %s" % (ref, e.strerror), file=sys.stderr)
        return 1
    if elf_flaws(data):
        print("mkbad: %s is not a loadable ELF64 x86_64 file: %s"
              % (ref, " ".join(sorted(elf_flaws(data)))), file=sys.stderr)
        return 1
    os.makedirs(outdir, exist_ok=True)
    for name, rule in BAD_FILES:
        try:
            image = MAKERS[name](data)
        except (LookupError, IndexError, ValueError) as e:
            print("mkbad: cannot make %s: %s" % (name, e), file=sys.stderr)
            return 1
        got = elf_flaws(bytes(image))
        if got != {rule}:
            print("mkbad: %s breaks %s, wanted only %s"
                  % (name, sorted(got), rule), file=sys.stderr)
            return 1
        write_bad(outdir, name, image)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
