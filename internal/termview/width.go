package termview

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Ellipsis marks text that was shortened to fit. It is one column wide.
const Ellipsis = "…"

// RuneWidth is the number of terminal columns r takes: 0 for combining marks
// and other zero-width characters, 2 for East Asian wide and fullwidth
// characters and most emoji, 1 for everything else — box-drawing and block
// elements (U+2500–U+259F) and other East Asian "ambiguous" characters
// included, as terminals outside CJK locales draw them. Control characters
// count 0: Sanitize replaces them before text reaches the screen.
//
// Where the table is unsure (some emoji ranges), it says 2: a line that is
// one column shorter than it could be is harmless, one that is one column
// too long wraps and breaks the redraw.
func RuneWidth(r rune) int {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return 0
	case r < 0x300: // Latin, the common case
		return 1
	case zeroWidth(r):
		return 0
	case wide(r):
		return 2
	}
	return 1
}

func zeroWidth(r rune) bool {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me):
		return true
	case r == 0x200b || r == 0x200c || r == 0x200d || r == 0x2060 || r == 0xfeff: // zero-width space, joiners, BOM
		return true
	case r >= 0x1160 && r <= 0x11ff: // Hangul medial vowels and final consonants join the syllable before
		return true
	}
	return false
}

// wideRanges are the East Asian Wide (W) and Fullwidth (F) ranges of
// Unicode's EastAsianWidth.txt (UAX #11), merged and rounded outwards where
// a block is mostly wide, plus the emoji that terminals draw two columns wide
// (Emoji_Presentation=Yes in emoji-data.txt).
var wideRanges = [...][2]rune{
	{0x1100, 0x115f}, {0x231a, 0x231b}, {0x2329, 0x232a}, {0x23e9, 0x23ec},
	{0x23f0, 0x23f0}, {0x23f3, 0x23f3}, {0x25fd, 0x25fe}, {0x2614, 0x2615},
	{0x2648, 0x2653}, {0x267f, 0x267f}, {0x2693, 0x2693}, {0x26a1, 0x26a1},
	{0x26aa, 0x26ab}, {0x26bd, 0x26be}, {0x26c4, 0x26c5}, {0x26ce, 0x26ce},
	{0x26d4, 0x26d4}, {0x26ea, 0x26ea}, {0x26f2, 0x26f3}, {0x26f5, 0x26f5},
	{0x26fa, 0x26fa}, {0x26fd, 0x26fd}, {0x2705, 0x2705}, {0x270a, 0x270b},
	{0x2728, 0x2728}, {0x274c, 0x274c}, {0x274e, 0x274e}, {0x2753, 0x2755},
	{0x2757, 0x2757}, {0x2795, 0x2797}, {0x27b0, 0x27b0}, {0x27bf, 0x27bf},
	{0x2b1b, 0x2b1c}, {0x2b50, 0x2b50}, {0x2b55, 0x2b55}, {0x2e80, 0x303e},
	{0x3041, 0x33ff}, {0x3400, 0x4dbf}, {0x4e00, 0x9fff}, {0xa000, 0xa4cf},
	{0xa960, 0xa97f}, {0xac00, 0xd7a3}, {0xf900, 0xfaff}, {0xfe10, 0xfe19},
	{0xfe30, 0xfe6f}, {0xff00, 0xff60}, {0xffe0, 0xffe6}, {0x16fe0, 0x16fe4},
	{0x17000, 0x18cff}, {0x1b000, 0x1b2ff}, {0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf},
	{0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a}, {0x1f200, 0x1f265}, {0x1f300, 0x1f64f},
	{0x1f680, 0x1f6ff}, {0x1f7e0, 0x1f7eb}, {0x1f90c, 0x1f9ff}, {0x1fa70, 0x1faff},
	{0x20000, 0x2fffd}, {0x30000, 0x3fffd},
}

func wide(r rune) bool {
	lo, hi := 0, len(wideRanges)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < wideRanges[m][0]:
			hi = m
		case r > wideRanges[m][1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// Width is the number of terminal columns s takes on one line: the sum of
// its runes' widths. Invalid UTF-8 counts one column per bad byte, as
// Sanitize shows it (U+FFFD).
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += RuneWidth(r)
	}
	return n
}

// Sanitize makes s safe to print on one line of a terminal: tabs, newlines
// and carriage returns become spaces, other control characters (escape
// sequences included) and invalid UTF-8 become U+FFFD. Text that needs no
// change is returned as it is, without allocating.
func Sanitize(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // ranging over invalid UTF-8 yields utf8.RuneError
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && n == 1) || (r >= 0x80 && r < 0xa0) {
				return false
			}
			i += n - 1
		}
	}
	return true
}

// Truncate shortens s to at most width columns, never cutting a rune (or
// the combining marks that follow it) in two. Shortened text ends with
// Ellipsis. s is sanitized first.
func Truncate(s string, width int) string {
	s = Sanitize(s)
	if Width(s) <= width {
		return s
	}
	if width <= 0 {
		return ""
	}
	head, _ := cut(s, width-1)
	return head + Ellipsis
}

// cut splits sanitized s after the longest prefix at most width columns
// wide. Zero-width runes stay with the rune before them.
func cut(s string, width int) (head, tail string) {
	w := 0
	for i, r := range s {
		rw := RuneWidth(r)
		if w+rw > width {
			return s[:i], s[i:]
		}
		w += rw
	}
	return s, ""
}

// Pad appends spaces to s up to width columns (s is not shortened).
func Pad(s string, width int) string {
	if w := Width(s); w < width {
		return s + strings.Repeat(" ", width-w)
	}
	return s
}

// PadLeft prepends spaces to s up to width columns (s is not shortened).
func PadLeft(s string, width int) string {
	if w := Width(s); w < width {
		return strings.Repeat(" ", width-w) + s
	}
	return s
}

// Wrap breaks s into lines of at most width columns: at spaces where it
// can, inside a word (at a rune boundary) where a word is wider than a line.
// Lines after the first start with indent (which counts towards the width;
// it is dropped when it leaves no room). With maxLines > 0 at most that many
// lines are returned and the last one ends with Ellipsis when text was left
// out. s is sanitized first; a width below 1 yields no lines.
func Wrap(s string, width int, indent string, maxLines int) []string {
	s = Sanitize(s)
	indent = Sanitize(indent)
	if width < 1 {
		return nil
	}
	if Width(indent) >= width {
		indent = ""
	}
	var lines []string
	rest := strings.TrimLeft(s, " ")
	prefix := ""
	for rest != "" {
		room := width - Width(prefix)
		if r, _ := utf8.DecodeRuneInString(rest); RuneWidth(r) > room {
			prefix, room = "", width // no room for a wide rune after the indent
		}
		if maxLines > 0 && len(lines) == maxLines-1 {
			lines = append(lines, prefix+Truncate(rest, room))
			return lines
		}
		line, next := breakLine(rest, room)
		lines = append(lines, prefix+line)
		rest = strings.TrimLeft(next, " ")
		prefix = indent
	}
	if len(lines) == 0 {
		lines = append(lines, "")
	}
	return lines
}

// breakLine takes the first line of at most room columns off s, which does
// not start with a space.
func breakLine(s string, room int) (line, rest string) {
	head, tail := cut(s, room)
	if tail == "" {
		return head, ""
	}
	if tail[0] == ' ' {
		return strings.TrimRight(head, " "), tail
	}
	if i := strings.LastIndexByte(head, ' '); i > 0 {
		if trimmed := strings.TrimRight(head[:i], " "); trimmed != "" {
			return trimmed, s[i:]
		}
	}
	if head == "" { // a rune wider than the room: show it cut, do not loop
		_, size := utf8.DecodeRuneInString(s)
		return "", s[size:]
	}
	return head, tail
}
