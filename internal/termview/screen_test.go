package termview

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// screen is a small terminal emulator for tests: it understands what the
// Renderer writes (printable runes with their widths, CR, LF, cursor up,
// erase to the end of the screen or line, cursor visibility, SGR) and
// behaves like xterm and tmux at the right margin: a rune that does not fit
// on the row wraps to the next one, scrolling at the bottom. Rows scrolled
// off the top go to history, and so does the whole screen when it is
// erased from its top-left corner (as tmux does). Unknown escape sequences
// fail the test.
type screen struct {
	t             *testing.T
	width, height int
	cells         [][]string // "" is blank; a wide rune's second cell is "\x00"
	history       []string
	row, col      int
	pendingWrap   bool
	cursorHidden  bool
	wraps         int    // runes that did not fit on their row
	rest          []byte // an incomplete escape sequence or rune
}

func newScreen(t *testing.T, width, height int) *screen {
	s := &screen{t: t, width: width, height: height}
	for range height {
		s.cells = append(s.cells, make([]string, width))
	}
	return s
}

func (s *screen) Write(p []byte) (int, error) {
	n := len(p)
	p = append(s.rest, p...)
	s.rest = nil
	for len(p) > 0 {
		if p[0] == 0x1b {
			used, ok := s.escape(p)
			if !ok {
				s.rest = append([]byte(nil), p...)
				return n, nil
			}
			p = p[used:]
			continue
		}
		if !utf8.FullRune(p) {
			s.rest = append([]byte(nil), p...)
			return n, nil
		}
		r, size := utf8.DecodeRune(p)
		p = p[size:]
		s.put(r)
	}
	return n, nil
}

// escape handles the CSI sequence at the start of p; ok is false when it is
// incomplete.
func (s *screen) escape(p []byte) (used int, ok bool) {
	if len(p) < 2 {
		return 0, false
	}
	if p[1] != '[' {
		s.t.Fatalf("screen: unexpected escape %q", p[:2])
	}
	i := 2
	for i < len(p) && (p[i] >= '0' && p[i] <= '9' || p[i] == ';' || p[i] == '?') {
		i++
	}
	if i == len(p) {
		return 0, false
	}
	params, final := string(p[2:i]), p[i]
	switch {
	case final == 'A':
		k := 1
		if params != "" {
			k, _ = strconv.Atoi(params)
		}
		s.row = max(s.row-k, 0)
		s.pendingWrap = false
	case final == 'J' && (params == "" || params == "0"):
		if s.row == 0 && s.col == 0 {
			// Like tmux (scroll-on-clear, on by default): erasing the whole
			// screen keeps what was on it in the history.
			for r := range s.height {
				s.history = append(s.history, s.line(r))
			}
		}
		s.eraseLine(s.row, s.col)
		for r := s.row + 1; r < s.height; r++ {
			s.eraseLine(r, 0)
		}
	case final == 'K' && params == "":
		s.eraseLine(s.row, s.col)
	case final == 'm':
	case final == 'l' && params == "?25":
		s.cursorHidden = true
	case final == 'h' && params == "?25":
		s.cursorHidden = false
	default:
		s.t.Fatalf("screen: unexpected sequence %q", p[:i+1])
	}
	return i + 1, true
}

func (s *screen) eraseLine(r, from int) {
	for c := from; c < s.width; c++ {
		s.cells[r][c] = ""
	}
}

func (s *screen) put(r rune) {
	switch r {
	case '\r':
		s.col, s.pendingWrap = 0, false
		return
	case '\n':
		s.lineFeed()
		return
	}
	if r < 0x20 || r == 0x7f {
		s.t.Fatalf("screen: control character %U written", r)
	}
	w := RuneWidth(r)
	if w == 0 {
		return
	}
	if s.pendingWrap || s.col+w > s.width {
		s.wraps++
		s.col = 0
		s.lineFeed()
	}
	s.cells[s.row][s.col] = string(r)
	if w == 2 && s.col+1 < s.width {
		s.cells[s.row][s.col+1] = "\x00"
	}
	s.col += w
	if s.col >= s.width {
		s.col, s.pendingWrap = s.width-1, true
	}
}

func (s *screen) lineFeed() {
	s.pendingWrap = false
	if s.row < s.height-1 {
		s.row++
		return
	}
	s.history = append(s.history, s.line(0))
	copy(s.cells, s.cells[1:])
	s.cells[s.height-1] = make([]string, s.width)
}

func (s *screen) line(r int) string {
	var b strings.Builder
	for _, c := range s.cells[r] {
		switch c {
		case "":
			b.WriteByte(' ')
		case "\x00":
		default:
			b.WriteString(c)
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// lines is what the screen shows, top to bottom.
func (s *screen) lines() []string {
	out := make([]string, s.height)
	for r := range s.height {
		out[r] = s.line(r)
	}
	return out
}

func (s *screen) String() string { return strings.Join(s.lines(), "\n") }

// count is how many of the lines, history included, contain sub.
func (s *screen) count(sub string, withHistory bool) int {
	n := 0
	all := s.lines()
	if withHistory {
		all = append(append([]string(nil), s.history...), all...)
	}
	for _, l := range all {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
