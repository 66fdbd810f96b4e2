/// Identifies one interned call stack within a trace. Id 0 means "no stack".
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct StackId(pub u32);

impl StackId {
    /// The stack of an event whose call stack could not be captured.
    pub const NONE: StackId = StackId(0);
}

/// A kernel thread id (`gettid`) of the profiled process.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct ThreadId(pub u32);
