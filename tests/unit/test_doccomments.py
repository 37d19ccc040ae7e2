"""The `///` doc comment scanner, the header struct finder and record type inference."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eunomia.compiler.doccomments import (
    declared_name,
    parse_doc_lines,
    scan_doc_comments,
    strip_comments,
)
from eunomia.compiler.record_types import declared_type, header_struct_names, infer_record_types

# -- doc lines -----------------------------------------------------------------------------


def test_plain_lines_join_into_description():
    assert parse_doc_lines(["Process ID", "to trace"]) == {"description": "Process ID to trace"}


def test_paragraphs_are_kept_apart():
    assert parse_doc_lines(["one", "", "two"]) == {"description": "one\ntwo"}


def test_key_values_are_json_when_json():
    doc = parse_doc_lines(['@cmdarg {"short": "p", "default": 0}', "@version 0.1.0",
                           "@count 3", "@flag", '@name "quoted"'])
    assert doc == {"cmdarg": {"short": "p", "default": 0}, "version": "0.1.0", "count": 3,
                   "flag": True, "name": "quoted"}


def test_values_continue_on_next_lines_until_blank():
    doc = parse_doc_lines(['@cmdarg {"short": "p",', '  "help": "pid"}', "",
                           "@details a long", "text here", "", "then a description"])
    assert doc == {"cmdarg": {"short": "p", "help": "pid"}, "details": "a long text here",
                   "description": "then a description"}


def test_repeated_object_values_merge_and_others_replace():
    doc = parse_doc_lines(['@cmdarg {"short": "p"}', '@cmdarg {"default": 1}',
                           "@unit ms", "@unit us"])
    assert doc == {"cmdarg": {"short": "p", "default": 1}, "unit": "us"}


def test_at_sign_inside_text_is_text():
    assert parse_doc_lines(["mail me@example.com", "@ not a key"]) == {
        "description": "mail me@example.com @ not a key"}


# -- declarations --------------------------------------------------------------------------

TRICKY = r'''
#include "vmlinux.h"
#define SWAP(a, b) \
    do { typeof(a) t = a; a = b; b = t; } while (0)   /* { unbalanced in a macro */

/// Process ID to trace
/// @cmdarg {"short": "p", "default": 0}
const volatile int targ_pid = 0;

/// text with a "string // not a comment" and a ' quote
const volatile char comm[16] = "a;b{c";

/// ring buffer of events
/// @export event
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF); /* a } in a comment */
    __uint(max_entries, 256 * 1024);    // and { here
} rb SEC(".maps");

/// detached by an ordinary comment
// ordinary
int not_documented;

/// @sample {"interval": 1000, "type": "log2_hist", "unit": "usecs"}
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, u32); __type(value, u64); } hists SEC(".maps");

/// a struct definition has no declared name
struct local { int x; };
int after_struct;

/// called on exec
/// @ifname lo
SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
    const char *s = "}{";
    if (s[0] == '}') { return 1; }
    /// a doc comment inside a body documents nothing outside
    return 0;
}

/// through a macro
SEC("fentry/do_unlinkat")
int BPF_PROG(do_unlinkat, int dfd, struct filename *name)
{
    return 0;
}

/// blank lines between comment and declaration are fine

static __always_inline int helper(int x) { return x; }

/// array with initializer
__u64 counts[4] SEC(".data.counts") = { 1, 2, 3, 4 };

/// @brief Trace exec
/// @version 0.1.0
///
/// @details Longer text
/// on two lines
char LICENSE[] SEC("license") = "Dual BSD/GPL";
'''


def test_tricky_source():
    docs = scan_doc_comments(TRICKY)
    assert docs["targ_pid"] == {"description": "Process ID to trace",
                                "cmdarg": {"short": "p", "default": 0}}
    assert docs["comm"] == {"description": 'text with a "string // not a comment" and a \' quote'}
    assert docs["rb"] == {"description": "ring buffer of events", "export": "event"}
    assert docs["hists"] == {"sample": {"interval": 1000, "type": "log2_hist", "unit": "usecs"}}
    assert docs["handle_exec"] == {"description": "called on exec", "ifname": "lo"}
    assert docs["do_unlinkat"] == {"description": "through a macro"}
    assert docs["helper"] == {"description": "blank lines between comment and declaration are fine"}
    assert docs["counts"] == {"description": "array with initializer"}
    assert docs["LICENSE"] == {"brief": "Trace exec", "version": "0.1.0",
                               "details": "Longer text on two lines"}
    for undocumented in ("not_documented", "after_struct", "local", "event", "s"):
        assert undocumented not in docs
    assert set(docs) == {"targ_pid", "comm", "rb", "hists", "handle_exec", "do_unlinkat",
                         "helper", "counts", "LICENSE"}


def test_four_slashes_and_trailing_member_docs_are_not_docs():
    source = "//// banner\nint a;\nstruct s {\n int x; ///< member doc\n};\nint b;\n"
    assert scan_doc_comments(source) == {}


def test_unterminated_input_does_not_hang():
    assert scan_doc_comments('/// doc\nstruct { int x;') == {}
    assert scan_doc_comments('/// doc\nchar *s = "never closed') == {}
    assert scan_doc_comments("/* never closed\n/// doc\nint a;") == {}


def test_declared_names():
    assert declared_name('struct {} rb SEC(".maps")', False) == "rb"
    assert declared_name("const volatile unsigned long long min_ns = 0", False) == "min_ns"
    assert declared_name('char LICENSE[] SEC("license") = "GPL"', False) == "LICENSE"
    assert declared_name("struct event {}", False) is None
    assert declared_name('SEC("kprobe/x") int BPF_KPROBE(trace_x, int a)', True) == "trace_x"
    assert declared_name("int __attribute__((noinline)) f(int a)", True) == "f"


def test_strip_comments_keeps_strings_and_lines():
    text = 'a /* x\ny */ b // c\n"/* kept */"'
    stripped = strip_comments(text)
    assert "x" not in stripped and "c" not in stripped.replace('"/* kept */"', "")
    assert '"/* kept */"' in stripped and stripped.count("\n") == text.count("\n")


# -- header structs and record types -------------------------------------------------------

def test_header_struct_names():
    header = """
    #ifndef H
    #define H
    /* struct in_comment { int x; }; */
    struct event { int pid; struct inner { int y; } in; };
    typedef struct event2 { int x; } event2_t;
    struct event *forward_use;
    struct event { int again; };
    #endif
    """
    assert header_struct_names(header) == ["event", "inner", "event2"]


RECORDS = r"""
struct event_exec *unrelated_global;
SEC("tp/a") int a(void *ctx)
{
    struct event_exec *e;
    e = bpf_ringbuf_reserve(&rb_exec, sizeof(*e), 0);
    return 0;
}
SEC("tp/b") int b(void *ctx)
{
    struct event_exit ev = {};
    bpf_ringbuf_output(&rb_exit, &ev, sizeof(ev), 0);
    return 0;
}
SEC("tp/c") int c(void *ctx)
{
    exit_t *p = get();
    bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, p, sizeof(*p));
    void *raw = bpf_ringbuf_reserve(&by_size, sizeof(struct sized), 0);
    return 0;
}
SEC("tp/d") int d(void *ctx)
{
    struct one *x = bpf_ringbuf_reserve(&mixed, sizeof(*x), 0);
    struct two *y = bpf_ringbuf_reserve(&mixed, sizeof(*y), 0);
    // bpf_ringbuf_reserve(&commented, sizeof(struct nope), 0);
    return 0;
}
"""


def test_infer_record_types():
    found = infer_record_types(RECORDS)
    assert found["rb_exec"] == {"struct event_exec"}
    assert found["rb_exit"] == {"struct event_exit"}
    assert found["events"] == {"exit_t"}
    assert found["by_size"] == {"struct sized"}
    assert found["mixed"] == {"struct one", "struct two"}
    assert "commented" not in found


def test_declared_type_takes_the_latest_declaration():
    code = "struct a *e; int f() { struct b *e; use(e); }"
    assert declared_type(code, "e", code.index("use")) == "struct b"
    assert declared_type(code, "e", code.index("int f")) == "struct a"
    assert declared_type("return e;", "e", 9) is None


# -- properties ----------------------------------------------------------------------------

C_ALPHABET = 'ab_{}()[];=*/"\'\\#\n @SEC.x0,'


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=C_ALPHABET, max_size=80))
def test_scanner_survives_any_input(text):
    docs = scan_doc_comments(text)
    assert isinstance(docs, dict)
    assert all(isinstance(v, dict) for v in docs.values())


@settings(max_examples=100, deadline=None)
@given(name=st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
       words=st.lists(st.from_regex(r"[A-Za-z0-9,.]{1,8}", fullmatch=True), min_size=1,
                      max_size=5),
       kind=st.sampled_from(["var", "map", "prog"]))
def test_any_documented_declaration_is_found(name, words, kind):
    declaration = {
        "var": f"const volatile int {name} = 0;",
        "map": f"struct {{ __uint(type, BPF_MAP_TYPE_HASH); }} {name} SEC(\".maps\");",
        "prog": f'SEC("tp/a/b")\nint {name}(void *ctx)\n{{\n    return 0;\n}}',
    }[kind]
    source = f"/// {' '.join(words)}\n{declaration}\nint after;\n"
    assert scan_doc_comments(source) == {name: {"description": " ".join(words)}}


def test_struct_member_docs():
    from eunomia.compiler.doccomments import struct_member_docs
    header = """
struct ev {
	/// @format errno
	int ret;
	/// the address
	/// @format ip
	unsigned int daddr;
	char comm[16];       // no doc
};
struct other { int x; };
"""
    assert struct_member_docs(header) == {
        "ev": {"ret": {"format": "errno"},
               "daddr": {"format": "ip", "description": "the address"}}}
