package termview

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRuneWidth(t *testing.T) {
	for _, tc := range []struct {
		r    rune
		want int
	}{
		{'a', 1}, {'é', 1}, {'─', 1}, {'█', 1}, {'░', 1}, {'▏', 1}, {'→', 1}, {'…', 1}, {'·', 1},
		{'中', 2}, {'한', 2}, {'Ａ', 2}, {'ｱ', 1}, {'🚀', 2}, {'😀', 2}, {'　', 2},
		{0x0301, 0}, {0x200d, 0}, {0xfe0f, 0}, {0x1b, 0}, {'\n', 0}, {0x9b, 0},
		{utf8.RuneError, 1},
	} {
		assert.Equal(t, tc.want, RuneWidth(tc.r), "%U %q", tc.r, tc.r)
	}
	assert.Equal(t, 12, Width("v1 → v2 中文"))
	assert.Equal(t, 3, Width("e\u0301e\u0301e\u0301"))
}

func TestWideRangesAreSorted(t *testing.T) {
	for i, r := range wideRanges {
		require.LessOrEqual(t, r[0], r[1], "range %d", i)
		if i > 0 {
			require.Less(t, wideRanges[i-1][1], r[0], "range %d overlaps the one before", i)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain → text":        "plain → text",
		"tab\there\nnext\r":   "tab here next ",
		"esc \x1b[31mred":     "esc \uFFFD[31mred",
		"bad \xff\xfe utf8":   "bad \uFFFD\uFFFD utf8",
		"c1 \u009b control":   "c1 \uFFFD control",
		"cut rune \xe2\x96":   "cut rune \uFFFD\uFFFD", // one per byte, as range does
		"del \x7f":            "del \uFFFD",
		"e\u0301 stays whole": "e\u0301 stays whole",
	} {
		got := Sanitize(in)
		assert.Equal(t, want, got, "%q", in)
		assert.True(t, utf8.ValidString(got))
	}
	s := "nothing to do: 中文 ████"
	assert.Equal(t, 0.0, testing.AllocsPerRun(10, func() { _ = Sanitize(s) }))
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"abcdef", 6, "abcdef"},
		{"abcdef", 4, "abc…"},
		{"abcdef", 1, "…"},
		{"abcdef", 0, ""},
		{"abcdef", -3, ""},
		{"中文字符", 5, "中文…"},
		{"中文字符", 4, "中…"}, // 中文 would leave no room for the ellipsis
		{"中文字符", 2, "…"},
		{"e\u0301e\u0301e\u0301", 2, "e\u0301…"},
		{"█████████", 4, "███…"},
		{"v2 ████░░░░ 40%", 8, "v2 ████…"},
		{"ab\xffcd", 10, "ab\uFFFDcd"},
		{"line\nbreak", 20, "line break"},
	} {
		got := Truncate(tc.in, tc.width)
		assert.Equal(t, tc.want, got, "Truncate(%q, %d)", tc.in, tc.width)
		assert.LessOrEqual(t, Width(got), max(tc.width, 0))
		assert.True(t, utf8.ValidString(got))
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		width    int
		indent   string
		maxLines int
		want     []string
	}{
		{"fits", "short", 10, "", 0, []string{"short"}},
		{"empty", "", 10, "", 0, []string{""}},
		{"at spaces", "one two three four", 9, "", 0, []string{"one two", "three", "four"}},
		{"indent", "one two three four", 9, "  ", 0, []string{"one two", "  three", "  four"}},
		{"long word", "abcdefghij", 4, "", 0, []string{"abcd", "efgh", "ij"}},
		{"wide runes", "中文字符中文", 5, "", 0, []string{"中文", "字符", "中文"}},
		{"max lines", "one two three four five", 9, "", 2, []string{"one two", "three fo…"}},
		{"max lines exact", "one two three", 9, "", 2, []string{"one two", "three"}},
		{"spaces collapse at breaks", "a    b", 2, "", 0, []string{"a", "b"}},
		{"indent wider than width", "abc def", 2, "    ", 0, []string{"ab", "c", "de", "f"}},
		{"zero width", "abc", 0, "", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Wrap(tc.in, tc.width, tc.indent, tc.maxLines)
			assert.Equal(t, tc.want, got)
			for _, l := range got {
				assert.LessOrEqual(t, Width(l), tc.width)
			}
		})
	}
}

// FuzzFit checks the text fitting on any input: nothing wider than asked,
// always valid UTF-8, nothing lost by Wrap, Truncate a prefix of the text,
// and no panel row wider than the terminal. Seeds are in
// testdata/fuzz/FuzzFit.
func FuzzFit(f *testing.F) {
	f.Add("v2 → v3 rolled back: guard: canary 5xx rate 42.9% (n=7) over limit 1.0%", 80)
	f.Fuzz(func(t *testing.T, s string, width int) {
		width = abs(width) % 300
		clean := Sanitize(s)
		require.True(t, utf8.ValidString(clean))
		require.Equal(t, clean, Sanitize(clean), "Sanitize is idempotent")

		tr := Truncate(s, width)
		require.True(t, utf8.ValidString(tr))
		require.LessOrEqual(t, Width(tr), width)
		if Width(clean) <= width {
			require.Equal(t, clean, tr)
		} else if width > 0 {
			require.True(t, strings.HasSuffix(tr, Ellipsis))
			require.True(t, strings.HasPrefix(clean, strings.TrimSuffix(tr, Ellipsis)))
		}

		lines := Wrap(s, width, "  ", 0)
		for _, l := range lines {
			require.True(t, utf8.ValidString(l))
			require.LessOrEqual(t, Width(l), width, "%q", l)
		}
		if width >= 2 { // every rune fits on a line, so nothing is lost
			require.Equal(t, visible(clean), visible(strings.Join(lines, "")))
		}
		for _, l := range Wrap(s, width, "", 3) {
			require.LessOrEqual(t, Width(l), width)
		}

		v := View{Title: s, Phase: s, Canary: s, Share: float64(len(s) % 101), Target: 50, Steps: []float64{1, 10, 50, 100},
			Step: len(s) % 4, Versions: []Version{{Name: s}, {Name: "v2"}}, Verdict: s, Log: []string{s, s}}
		height := 1 + len(s)%30
		rows := v.Rows(width, height)
		require.LessOrEqual(t, len(rows), height)
		for _, r := range rows {
			require.True(t, utf8.ValidString(r))
			require.LessOrEqual(t, Width(r), width, "%q", r)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// visible is s without the spaces Wrap may drop at line breaks.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' {
			return -1
		}
		return r
	}, s)
}
