package admin

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanReason: whatever an operator (or an attacker with the token)
// sends as an abort reason, what is recorded is one printable line of at
// most 500 runes (and an ellipsis), with the words of the input in order.
func FuzzCleanReason(f *testing.F) {
	for _, s := range []string{"", "p99 doubled", "line one\nline\ttwo\x07", "\x1b[31mred\x1b[0m", strings.Repeat("é", 600), "\xff\xfe bad utf-8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := cleanReason(in)
		if n := utf8.RuneCountInString(out); n > 501 {
			t.Fatalf("%d runes", n)
		}
		for _, r := range out {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("control character %U in %q", r, out)
			}
		}
		if out != strings.TrimSpace(out) || strings.Contains(out, "  ") {
			t.Fatalf("white space not collapsed: %q", out)
		}
		if utf8.RuneCountInString(out) <= 500 && !strings.HasSuffix(out, "…") {
			// Nothing cut: the same words as the input, control
			// characters read as spaces.
			want := strings.Fields(strings.Map(func(r rune) rune {
				switch {
				case unicode.IsControl(r):
					return ' '
				case unicode.Is(unicode.Bidi_Control, r):
					return -1
				}
				return r
			}, in))
			if strings.Join(want, " ") != out {
				t.Fatalf("cleanReason(%q) = %q, want the words %q", in, out, want)
			}
		}
	})
}
