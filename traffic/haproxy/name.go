package haproxy

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalidName is wrapped by every error ValidName returns.
var ErrInvalidName = errors.New("invalid HAProxy name")

// MaxNameLen bounds the names ValidName accepts. HAProxy sets no limit of
// its own; this one keeps a command line well inside HAProxy's buffer.
const MaxNameLen = 256

// ValidName reports whether name can be sent to the runtime API as a
// backend or server name; field names it in the error ("backend",
// "server").
//
// The characters allowed are those HAProxy allows in proxy names
// (configuration manual, section 4: "upper and lower case letters, digits,
// '-' (dash), '_' (underscore), '.' (dot) and ':' (colon)"), which its
// server names follow too. Everything else is refused before anything is
// sent — in particular white space, which would split the command's
// arguments, ';' and line breaks, which would start a second command, '\',
// HAProxy's escape character, and '/', which separates backend from
// server. "#<id>", HAProxy's reference to a proxy or server by numeric
// ID, is accepted as well.
func ValidName(field, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s: empty", ErrInvalidName, field)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %s: %d bytes, more than %d", ErrInvalidName, field, len(name), MaxNameLen)
	}
	if name[0] == '#' {
		if len(name) == 1 {
			return fmt.Errorf("%w: %s %q: '#' must be followed by a numeric ID", ErrInvalidName, field, name)
		}
		for i := 1; i < len(name); i++ {
			if name[i] < '0' || name[i] > '9' {
				return fmt.Errorf("%w: %s %q: '#' must be followed by a numeric ID, found %q at byte %d",
					ErrInvalidName, field, name, name[i], i)
			}
		}
		return nil
	}
	for i := 0; i < len(name); i++ {
		if nameChar(name[i]) {
			continue
		}
		what := fmt.Sprintf("byte 0x%02x", name[i])
		if r, size := utf8.DecodeRuneInString(name[i:]); r != utf8.RuneError || size > 1 {
			what = fmt.Sprintf("character %q", r)
		}
		return fmt.Errorf("%w: %s %q: %s at byte %d is not allowed (allowed: A-Z a-z 0-9 _ . : -)",
			ErrInvalidName, field, name, what, i)
	}
	return nil
}

func nameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '_', c == '.', c == ':', c == '-':
		return true
	}
	return false
}
