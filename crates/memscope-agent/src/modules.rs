//! The module map, read with `dl_iterate_phdr`: ranges and build ids for the trace,
//! and the in-memory `.eh_frame_hdr`/`.eh_frame` of each module for the unwinder.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::{c_int, c_void, CStr};
use core::ops::{Deref, Range};

use framehop::{ExplicitModuleSectionInfo, Module as UnwindModule};

use crate::control::ModuleRecord;
use crate::spin::SpinLock;
use crate::sys;

/// Bytes of a module mapped in this process. They stay mapped while the module is
/// loaded, which is as long as the unwinder may look at them.
#[derive(Clone, Copy)]
pub(crate) struct MappedBytes {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the bytes are read-only mapped memory of a loaded module.
unsafe impl Send for MappedBytes {}
// SAFETY: as above; nothing writes through the pointer.
unsafe impl Sync for MappedBytes {}

impl Default for MappedBytes {
    fn default() -> Self {
        MappedBytes { ptr: core::ptr::NonNull::dangling().as_ptr(), len: 0 }
    }
}

impl Deref for MappedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len lies inside a PT_LOAD segment of a loaded module.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// One module as found in memory.
pub(crate) struct LoadedModule {
    pub record: ModuleRecord,
    pub unwind: Option<UnwindModule<MappedBytes>>,
}

/// Every module any scan has found, loaded or since unloaded: stacks captured in a
/// library before its `dlclose` must still symbolize, however soon it went away.
static SEEN: SpinLock<Vec<ModuleRecord>> = SpinLock::new(Vec::new());

/// Every module loaded right now (and remembered in [`seen`]).
pub(crate) fn scan() -> Vec<LoadedModule> {
    let mut found: Vec<LoadedModule> = Vec::new();
    // SAFETY: the callback only reads the phdr info it is given, and `found` outlives
    // the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut found as *mut _ as *mut c_void) };
    let mut seen = SEEN.lock();
    for module in &found {
        if !seen
            .iter()
            .any(|m| m.path == module.record.path && m.load_bias == module.record.load_bias)
        {
            seen.push(module.record.clone());
        }
    }
    found
}

/// Adds a module no scan finds (an owner tag's pseudo-module) to the map.
pub(crate) fn add_pseudo(module: ModuleRecord) {
    SEEN.lock().push(module);
}

/// Every module ever found, in the order found.
pub(crate) fn seen() -> Vec<ModuleRecord> {
    SEEN.lock().clone()
}

/// In a forked child that records afresh: forgets the parent's list (its lock may be
/// held by a thread that does not exist here).
///
/// # Safety
/// Only the calling thread may run in the process.
pub(crate) unsafe fn reset_after_fork() {
    SEEN.reset(Vec::new());
}

/// The loader's count of loads plus unloads: when it changes, the map is stale.
pub(crate) fn generation() -> u64 {
    unsafe extern "C" fn first(info: *mut libc::dl_phdr_info, _: usize, out: *mut c_void) -> c_int {
        *(out as *mut u64) = (*info).dlpi_adds + (*info).dlpi_subs;
        1
    }
    let mut count = 0u64;
    // SAFETY: the callback writes one u64 through the pointer it is given.
    unsafe { libc::dl_iterate_phdr(Some(first), &mut count as *mut u64 as *mut c_void) };
    count
}

unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, out: *mut c_void) -> c_int {
    let found = &mut *(out as *mut Vec<LoadedModule>);
    found.push(describe(&*info));
    0
}

unsafe fn describe(info: &libc::dl_phdr_info) -> LoadedModule {
    let bias = info.dlpi_addr;
    let phdrs = core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
    let loads: Vec<Range<u64>> = phdrs
        .iter()
        .filter(|ph| ph.p_type == libc::PT_LOAD)
        .map(|ph| bias + ph.p_vaddr..bias + ph.p_vaddr + ph.p_memsz)
        .collect();
    let path = module_path(info.dlpi_name);
    let build_id = phdrs
        .iter()
        .filter(|ph| ph.p_type == libc::PT_NOTE)
        .find_map(|ph| find_build_id(bias + ph.p_vaddr, ph.p_memsz))
        .unwrap_or_default();
    let unwind = phdrs
        .iter()
        .find(|ph| ph.p_type == libc::PT_GNU_EH_FRAME)
        .and_then(|ph| unwind_module(&path, bias, &loads, ph.p_vaddr, ph.p_memsz));
    LoadedModule { record: ModuleRecord { path, load_bias: bias, build_id, ranges: loads }, unwind }
}

unsafe fn module_path(name: *const libc::c_char) -> String {
    let name = if name.is_null() {
        String::new()
    } else {
        CStr::from_ptr(name).to_string_lossy().into_owned()
    };
    if name.is_empty() {
        // The main executable has no name in the link map.
        String::from_utf8_lossy(&sys::read_link(c"/proc/self/exe")).into_owned()
    } else {
        name
    }
}

/// Finds NT_GNU_BUILD_ID among the notes of one PT_NOTE segment.
unsafe fn find_build_id(start: u64, len: u64) -> Option<Vec<u8>> {
    let notes = core::slice::from_raw_parts(start as *const u8, len as usize);
    let word = |at: usize| -> Option<usize> {
        Some(u32::from_ne_bytes(notes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let align4 = |n: usize| (n + 3) & !3;
    let mut at = 0;
    while at + 12 <= notes.len() {
        let (name_len, desc_len, kind) = (word(at)?, word(at + 4)?, word(at + 8)?);
        let name_at = at + 12;
        let desc_at = name_at + align4(name_len);
        if kind == 3 && notes.get(name_at..name_at + name_len) == Some(b"GNU\0") {
            return notes.get(desc_at..desc_at + desc_len).map(<[u8]>::to_vec);
        }
        at = desc_at + align4(desc_len);
    }
    None
}

/// Builds framehop's view of a module from its in-memory `.eh_frame_hdr`.
unsafe fn unwind_module(
    path: &str,
    bias: u64,
    loads: &[Range<u64>],
    hdr_vaddr: u64,
    hdr_len: u64,
) -> Option<UnwindModule<MappedBytes>> {
    let hdr_avma = bias + hdr_vaddr;
    let eh_frame_avma = eh_frame_address(hdr_avma)?;
    let segment = loads.iter().find(|r| r.contains(&eh_frame_avma))?;
    let eh_frame_len = segment.end - eh_frame_avma;
    let avma_range = loads.iter().map(|r| r.start).min()?..loads.iter().map(|r| r.end).max()?;
    let svma = |avma: u64, len: u64| avma - bias..avma - bias + len;
    let info = ExplicitModuleSectionInfo {
        base_svma: 0,
        eh_frame_hdr_svma: Some(svma(hdr_avma, hdr_len)),
        eh_frame_hdr: Some(MappedBytes { ptr: hdr_avma as *const u8, len: hdr_len as usize }),
        eh_frame_svma: Some(svma(eh_frame_avma, eh_frame_len)),
        eh_frame: Some(MappedBytes { ptr: eh_frame_avma as *const u8, len: eh_frame_len as usize }),
        ..Default::default()
    };
    Some(UnwindModule::new(path.to_owned(), avma_range, bias, info))
}

/// Decodes `eh_frame_ptr` from an `.eh_frame_hdr` (version 1).
unsafe fn eh_frame_address(hdr: u64) -> Option<u64> {
    const PCREL_SDATA4: u8 = 0x1b;
    const UDATA4: u8 = 0x03;
    const SDATA4: u8 = 0x0b;
    const ABSPTR: u8 = 0x00;
    let bytes = hdr as *const u8;
    if *bytes != 1 {
        return None;
    }
    let field = bytes.add(4);
    match *bytes.add(1) {
        PCREL_SDATA4 => {
            Some((field as u64).wrapping_add((field as *const i32).read_unaligned() as i64 as u64))
        }
        SDATA4 => Some((field as *const i32).read_unaligned() as i64 as u64),
        UDATA4 => Some(u64::from((field as *const u32).read_unaligned())),
        ABSPTR => Some((field as *const u64).read_unaligned()),
        _ => None,
    }
}
