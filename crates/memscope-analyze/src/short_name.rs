//! Function names shortened for reading, as pprof shows them: a C++ name's template
//! arguments become `<…>`, its parameter list, qualifiers and return type go
//! (`std::vector<…>::_M_realloc_insert`), and a Rust path's generic arguments become
//! `<…>` (`<alloc::vec::Vec<…> as core::ops::drop::Drop>::drop`). Expanded templates
//! run to hundreds of characters, and instantiations of one function then share a row.

use std::borrow::Cow;

/// `name` shortened; names with nothing to shorten come back as they are.
pub fn short_name(name: &str) -> Cow<'_, str> {
    if !name.contains(['<', '(']) {
        return Cow::Borrowed(name);
    }
    let (body, clones) = split_clones(name);
    let mut short = String::with_capacity(body.len());
    Shortener { name: body, at: 0, out: &mut short, open: Vec::new() }.run();
    let start = return_type_end(&short);
    let mut short = short.split_off(start);
    short.push_str(clones);
    Cow::Owned(short)
}

/// The name, and its compiler clone suffixes (` [clone .cold]`), kept as they are.
fn split_clones(name: &str) -> (&str, &str) {
    let mut body = name;
    while body.ends_with(']') {
        match body.rfind(" [clone ") {
            Some(at) => body = &body[..at],
            None => break,
        }
    }
    (body, &name[body.len()..])
}

/// What an open bracket being copied is.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Open {
    /// `<T as Trait>`, a Rust qualified path (copied, with its own arguments shortened).
    Qualified,
    /// `{lambda(int)#1}` or `{closure#0}` (copied, parameters too).
    Brace,
    /// Parentheses inside braces.
    Paren,
}

/// One pass over a name, writing the short form.
struct Shortener<'n, 'o> {
    name: &'n str,
    /// The byte offset of the next character of `name` to read.
    at: usize,
    out: &'o mut String,
    /// The brackets being copied, innermost last.
    open: Vec<Open>,
}

/// The qualifiers a member function's parameter list may be followed by.
const QUALIFIERS: &[&str] = &[" const", " volatile", " &&", " &", " noexcept"];

impl Shortener<'_, '_> {
    fn run(mut self) {
        while let Some(c) = self.name[self.at..].chars().next() {
            if self.operator_starts() {
                self.copy_operator();
                continue;
            }
            match c {
                '<' if self.follows_a_name() => self.skip_arguments(),
                '<' => self.copy_open(Open::Qualified),
                '>' if self.open.last() == Some(&Open::Qualified) => self.copy_close(),
                '{' => self.copy_open(Open::Brace),
                '}' if self.open.last() == Some(&Open::Brace) => self.copy_close(),
                '(' if self.name[self.at..].starts_with("(anonymous namespace)") => {
                    self.copy("(anonymous namespace)".len())
                }
                '(' if self.open.contains(&Open::Brace) => self.copy_open(Open::Paren),
                ')' if self.open.last() == Some(&Open::Paren) => self.copy_close(),
                '(' if self.follows_a_name() => self.skip_parameters(),
                _ => self.copy(c.len_utf8()),
            }
        }
    }

    fn copy(&mut self, len: usize) {
        self.out.push_str(&self.name[self.at..self.at + len]);
        self.at += len;
    }

    fn copy_open(&mut self, what: Open) {
        self.open.push(what);
        self.copy(1);
    }

    fn copy_close(&mut self) {
        self.open.pop();
        self.copy(1);
    }

    /// Whether the word `operator` starts at the cursor.
    fn operator_starts(&self) -> bool {
        let rest = &self.name[self.at..];
        rest.strip_prefix("operator").is_some_and(|after| !after.starts_with(is_name_char))
            && !self.name[..self.at].ends_with(is_name_char)
    }

    /// Whether what was written ends in a name, whose arguments or parameters follow.
    fn follows_a_name(&self) -> bool {
        self.out.ends_with(|c: char| is_name_char(c) || matches!(c, '>' | ']' | '}' | ':'))
    }

    /// `operator<`, `operator()`, `operator<<=` or `operator new`: the operator's own
    /// characters are not brackets; its template arguments and parameters follow.
    fn copy_operator(&mut self) {
        self.copy("operator".len());
        let rest = &self.name[self.at..];
        let symbol = if rest.starts_with("()") || rest.starts_with("[]") {
            2
        } else {
            rest.find(|c: char| !"<>=!+-*/%^&|~,".contains(c)).unwrap_or(rest.len())
        };
        self.copy(symbol);
        if self.name[self.at..].starts_with(" <") {
            self.copy(1);
            self.skip_arguments();
        }
        if self.name[self.at..].starts_with('(') {
            self.skip_parameters();
        }
    }

    /// Template arguments `<…>` become `<…>`; unbalanced ones are copied as they are.
    fn skip_arguments(&mut self) {
        match self.closing('>') {
            Some(end) => {
                self.out.push_str("<…>");
                self.at = end;
            }
            None => self.copy(1),
        }
    }

    /// A parameter list and the qualifiers after it are dropped.
    fn skip_parameters(&mut self) {
        let Some(end) = self.closing(')') else { return self.copy(1) };
        self.at = end;
        while let Some(qualifier) = QUALIFIERS.iter().find(|q| self.qualifier_at(q)) {
            self.at += qualifier.len();
        }
    }

    fn qualifier_at(&self, qualifier: &str) -> bool {
        let rest = &self.name[self.at..];
        rest.strip_prefix(qualifier)
            .is_some_and(|after| !after.starts_with(|c: char| is_name_char(c) || c == '&'))
    }

    /// The end (one past) of the `close` that matches the bracket at the cursor, counting
    /// both kinds of brackets; `->` is an arrow, not a bracket.
    fn closing(&self, close: char) -> Option<usize> {
        let mut depth = 0usize;
        let mut previous = '\0';
        for (offset, c) in self.name[self.at..].char_indices() {
            match c {
                '<' | '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                '>' if previous != '-' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth == 0 {
                return (c == close).then_some(self.at + offset + c.len_utf8());
            }
            previous = c;
        }
        None
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Where the function's name starts in a shortened C++ name that begins with a return
/// type (`std::pair<…> std::map<…>::insert`): after the last space outside brackets
/// that comes before any `operator` (whose name may hold spaces: `operator new`).
fn return_type_end(short: &str) -> usize {
    let mut depth = 0i32;
    let mut start = 0;
    for (at, c) in short.char_indices() {
        match c {
            '<' | '(' | '{' | '[' => depth += 1,
            '>' | ')' | '}' | ']' => depth -= 1,
            ' ' if depth == 0 => start = at + 1,
            'o' if depth == 0
                && short[at..].starts_with("operator")
                && !short[..at].ends_with(is_name_char) =>
            {
                break
            }
            _ => {}
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(name: &str) -> String {
        short_name(name).into_owned()
    }

    #[test]
    fn cpp_template_arguments_parameters_and_return_types_go() {
        assert_eq!(
            short(
                "void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>\
                 (__gnu_cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, \
                 int const&)"
            ),
            "std::vector<…>::_M_realloc_insert<…>"
        );
        assert_eq!(
            short(
                "std::pair<std::_Rb_tree_iterator<std::pair<int const, std::__cxx11::basic_string\
                 <char, std::char_traits<char>, std::allocator<char> > > >, bool> \
                 std::_Rb_tree<int, std::pair<int const, std::__cxx11::basic_string<char, \
                 std::char_traits<char>, std::allocator<char> > >, std::_Select1st<std::pair\
                 <int const, std::__cxx11::basic_string<char, std::char_traits<char>, \
                 std::allocator<char> > > >, std::less<int>, std::allocator<std::pair<int \
                 const, std::__cxx11::basic_string<char, std::char_traits<char>, \
                 std::allocator<char> > > > >::_M_emplace_unique<int&, char const (&) [6]>\
                 (int&, char const (&) [6])"
            ),
            "std::_Rb_tree<…>::_M_emplace_unique<…>"
        );
        assert_eq!(short("ns::outer(int)"), "ns::outer");
        assert_eq!(short("Widget::size() const &"), "Widget::size");
        assert_eq!(short("main"), "main");
    }

    #[test]
    fn operators_keep_their_symbols() {
        assert_eq!(
            short("std::map<int, int, std::less<int>, std::allocator<std::pair<int const, int> > >::operator[](int const&)"),
            "std::map<…>::operator[]"
        );
        assert_eq!(
            short(
                "bool std::operator< <char>(std::__cxx11::basic_string<char> const&, char const*)"
            ),
            "std::operator< <…>"
        );
        assert_eq!(short("Point::operator<(Point const&) const"), "Point::operator<");
        assert_eq!(short("operator<<(std::ostream&, Point const&)"), "operator<<");
        assert_eq!(short("Visitor::operator()(int)"), "Visitor::operator()");
        assert_eq!(short("operator new[](unsigned long)"), "operator new[]");
        assert_eq!(short("operator delete(void*, unsigned long)"), "operator delete");
        assert_eq!(short("Ptr<int>::operator->() const"), "Ptr<…>::operator->");
    }

    #[test]
    fn lambdas_and_anonymous_namespaces_stay_readable() {
        assert_eq!(
            short("main::{lambda(int)#1}::operator()(int) const"),
            "main::{lambda(int)#1}::operator()"
        );
        assert_eq!(
            short("run(std::vector<int, std::allocator<int> >&)::{lambda(std::vector<int, std::allocator<int> > const&)#2}::operator()(std::vector<int, std::allocator<int> > const&) const"),
            "run::{lambda(std::vector<…> const&)#2}::operator()"
        );
        assert_eq!(
            short("(anonymous namespace)::Cache<std::string>::fill(unsigned long)"),
            "(anonymous namespace)::Cache<…>::fill"
        );
        assert_eq!(short("fill(int) [clone .cold]"), "fill [clone .cold]");
        assert_eq!(short("xmalloc [clone .part.0]"), "xmalloc [clone .part.0]");
    }

    #[test]
    fn rust_generic_paths_shorten_and_qualified_paths_stay() {
        assert_eq!(
            short("<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop"),
            "<alloc::vec::Vec<…> as core::ops::drop::Drop>::drop"
        );
        assert_eq!(
            short("<std::collections::hash::map::HashMap<K,V,S> as core::iter::traits::collect::Extend<(K,V)>>::extend"),
            "<std::collections::hash::map::HashMap<…> as core::iter::traits::collect::Extend<…>>::extend"
        );
        assert_eq!(
            short("core::ptr::drop_in_place<alloc::vec::Vec<alloc::string::String>>"),
            "core::ptr::drop_in_place<…>"
        );
        assert_eq!(
            short("std::rt::lang_start::<()>::{closure#0}"),
            "std::rt::lang_start::<…>::{closure#0}"
        );
        assert_eq!(
            short("alloc::raw_vec::RawVec<T,A>::grow_one"),
            "alloc::raw_vec::RawVec<…>::grow_one"
        );
        assert_eq!(short("app::main::{{closure}}"), "app::main::{{closure}}");
        assert_eq!(short("map<fn() -> u8, u8>"), "map<…>");
        assert_eq!(short("<[T] as core::fmt::Debug>::fmt"), "<[T] as core::fmt::Debug>::fmt");
    }
}
