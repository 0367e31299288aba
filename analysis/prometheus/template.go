package prometheus

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// Template is a PromQL query with {{name}} placeholders. Parse one with
// ParseTemplate; fill it in with Render.
//
// A placeholder is "{{", optional spaces, a name made of ASCII letters,
// digits and underscores (not starting with a digit), optional spaces and
// "}}". The text "{{" may appear nowhere else, not even inside a string
// literal: PromQL itself never needs it.
//
// Where a placeholder sits decides how its value is written, so that no
// value can change the shape of the query:
//
//   - Inside a double- or single-quoted string literal the value is escaped
//     by PromQL's string rules, which are Go's (see
//     https://prometheus.io/docs/prometheus/latest/querying/basics/#string-literals):
//     backslash, the enclosing quote, newline, carriage return and tab are
//     written as \\, \" (or \'), \n, \r and \t; other control characters
//     and bytes that are not UTF-8 as \xNN. So `backend="{{backend}}"`
//     with the value `a"} or vector(1) #` stays one label value.
//   - Inside a backquoted (raw) string nothing can be escaped, so a value
//     holding a backquote is refused.
//   - Inside the string of a regular-expression matcher (=~ or !~) the
//     value is first quoted with regexp.QuoteMeta, so it matches itself
//     literally: `code=~"{{code}}"` with the value "5.." matches only the
//     text "5..". Write regular expressions in the template itself.
//   - Anywhere else (a range `[{{window}}]`, a number) the value must be a
//     Prometheus duration such as "1m30s" or an unsigned decimal number
//     such as "0.99"; anything else is refused.
//
// The zero Template renders to the empty string. A Template is immutable
// and safe for concurrent use.
type Template struct {
	text  string
	parts []part
}

type ctxKind uint8

const (
	ctxCode    ctxKind = iota // outside any string literal
	ctxDouble                 // inside "..."
	ctxSingle                 // inside '...'
	ctxRaw                    // inside `...`
	ctxComment                // inside a # comment (treated like code)
)

type part struct {
	lit    string // literal text, or
	name   string // a placeholder's variable name
	ctx    ctxKind
	regex  bool // the enclosing string is a regex matcher's operand
	offset int  // byte offset of the placeholder in the template
}

// ParseTemplate parses text. It reports malformed placeholders and string
// literals left open, with their byte offsets; it does not check that text
// is valid PromQL (Prometheus does, and its error is reported verbatim).
func ParseTemplate(text string) (*Template, error) {
	t := &Template{text: text}
	ctx := ctxCode
	regex := false
	start := 0 // start of the pending literal
	strStart := 0
	flush := func(end int) {
		if end > start {
			t.parts = append(t.parts, part{lit: text[start:end]})
		}
	}
	for i := 0; i < len(text); {
		if strings.HasPrefix(text[i:], "{{") {
			name, n, err := scanPlaceholder(text[i:])
			if err != nil {
				return nil, fmt.Errorf("query template: offset %d: %w", i, err)
			}
			flush(i)
			t.parts = append(t.parts, part{name: name, ctx: ctx, regex: regex, offset: i})
			i += n
			start = i
			continue
		}
		c := text[i]
		switch ctx {
		case ctxCode:
			switch c {
			case '"', '\'', '`':
				regex = followsRegexOp(text[:i])
				strStart = i
				switch c {
				case '"':
					ctx = ctxDouble
				case '\'':
					ctx = ctxSingle
				default:
					ctx = ctxRaw
				}
			case '#':
				ctx = ctxComment
			}
		case ctxDouble, ctxSingle:
			quote := byte('"')
			if ctx == ctxSingle {
				quote = '\''
			}
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case quote:
				ctx, regex = ctxCode, false
			case '\n':
				return nil, fmt.Errorf("query template: offset %d: newline inside the string literal opened at offset %d", i, strStart)
			}
		case ctxRaw:
			if c == '`' {
				ctx, regex = ctxCode, false
			}
		case ctxComment:
			if c == '\n' {
				ctx = ctxCode
			}
		}
		i++
	}
	switch ctx {
	case ctxDouble, ctxSingle, ctxRaw:
		return nil, fmt.Errorf("query template: string literal opened at offset %d is never closed", strStart)
	}
	flush(len(text))
	return t, nil
}

// MustParseTemplate is ParseTemplate for templates known to be valid (in
// tests and package-level variables); it panics on error.
func MustParseTemplate(text string) *Template {
	t, err := ParseTemplate(text)
	if err != nil {
		panic(err)
	}
	return t
}

// scanPlaceholder reads "{{ name }}" at the start of s and returns the name
// and the number of bytes read.
func scanPlaceholder(s string) (string, int, error) {
	end := strings.Index(s, "}}")
	if end < 0 {
		return "", 0, errors.New(`"{{" without a closing "}}"`)
	}
	name := strings.TrimSpace(s[2:end])
	if !validName(name) {
		return "", 0, fmt.Errorf("placeholder %q: want {{name}} with name made of letters, digits and _, not starting with a digit", s[:end+2])
	}
	return name, end + 2, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// followsRegexOp reports whether before ends with =~ or !~ (ignoring
// spaces): the string that starts next is a regular expression.
func followsRegexOp(before string) bool {
	before = strings.TrimRight(before, " \t\r\n")
	return strings.HasSuffix(before, "=~") || strings.HasSuffix(before, "!~")
}

// String returns the template's text.
func (t *Template) String() string {
	if t == nil {
		return ""
	}
	return t.text
}

// Vars returns the names the template refers to, sorted, each once.
func (t *Template) Vars() []string {
	if t == nil {
		return nil
	}
	seen := map[string]bool{}
	var names []string
	for _, p := range t.parts {
		if p.name != "" && !seen[p.name] {
			seen[p.name] = true
			names = append(names, p.name)
		}
	}
	sort.Strings(names)
	return names
}

// inCode reports the offset of the first placeholder for name that sits
// outside a string literal, or -1.
func (t *Template) inCode(name string) int {
	for _, p := range t.parts {
		if p.name == name && (p.ctx == ctxCode || p.ctx == ctxComment) {
			return p.offset
		}
	}
	return -1
}

// Render fills in the placeholders from vars. It fails, naming the
// variable, when a variable is missing or its value cannot be written
// safely where it stands (see Template).
func (t *Template) Render(vars map[string]string) (string, error) {
	if t == nil {
		return "", nil
	}
	var b strings.Builder
	b.Grow(len(t.text) + 32)
	for _, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := vars[p.name]
		if !ok {
			return "", fmt.Errorf("query template: variable %q (offset %d) has no value", p.name, p.offset)
		}
		if err := writeValue(&b, v, p.ctx, p.regex); err != nil {
			return "", fmt.Errorf("query template: variable %q (offset %d): %w", p.name, p.offset, err)
		}
	}
	return b.String(), nil
}

// numberRE is an unsigned decimal number: no sign (a sign could turn
// "x{{n}}" into a subtraction), no hex, no Inf or NaN.
var numberRE = regexp.MustCompile(`^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

func writeValue(b *strings.Builder, v string, ctx ctxKind, regex bool) error {
	if regex && ctx != ctxCode && ctx != ctxComment {
		v = regexp.QuoteMeta(v)
	}
	switch ctx {
	case ctxDouble:
		writeEscaped(b, v, '"')
	case ctxSingle:
		writeEscaped(b, v, '\'')
	case ctxRaw:
		if strings.IndexByte(v, '`') >= 0 {
			return fmt.Errorf("value %q contains a backquote, which a raw string literal cannot hold; use a double-quoted string in the template", v)
		}
		b.WriteString(v)
	default:
		if numberRE.MatchString(v) {
			b.WriteString(v)
			return nil
		}
		if _, err := model.ParseDuration(v); err == nil {
			b.WriteString(v)
			return nil
		}
		return fmt.Errorf("value %q outside a string literal must be a Prometheus duration (like 5m or 1m30s) or an unsigned number; put label values in quotes", v)
	}
	return nil
}

// Quote returns s as a double-quoted PromQL string literal, escaped as
// described at Template. Use it to build queries by hand.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	writeEscaped(&b, s, '"')
	b.WriteByte('"')
	return b.String()
}

// writeEscaped writes s escaped for a PromQL string literal delimited by
// quote. PromQL follows Go's escape rules, except that a single-quoted
// string may hold many characters and only its own quote may be escaped
// (\" inside '...' is an error in Prometheus's lexer), so each literal
// escapes only its own quote.
func writeEscaped(b *strings.Builder, s string, quote byte) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
			i++
			continue
		}
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteByte(quote)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}
