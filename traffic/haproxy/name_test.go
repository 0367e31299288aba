package haproxy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidName(t *testing.T) {
	valid := []string{
		"app", "s1", "be_app-v2", "v1.4.2", "ns:app", "A-Z_a.z:0-9", "#1", "#42",
		strings.Repeat("a", MaxNameLen),
	}
	for _, name := range valid {
		assert.NoError(t, ValidName("server", name), name)
	}

	invalid := []struct{ name, says string }{
		{"", "empty"},
		{strings.Repeat("a", MaxNameLen+1), "more than 256"},
		// Injection attempts: each would add arguments or a second command.
		{"s1 100", `character ' ' at byte 2`},
		{"s1\tx", `'\t'`},
		{"s1;shutdown sessions server app/s1", `';'`},
		{"s1\nset weight app/s2 0", `'\n'`},
		{"s1\r", `'\r'`},
		{"s1\x00", `'\x00'`},
		{"app/s2", `'/'`},
		{`s1\;x`, `'\\'`},
		{"s1<<", `'<'`},
		{"s1%", `'%'`},
		{"s1\x7f", `'\x7f'`},
		{"sé", `character 'é' at byte 1`},
		{"s1\u2028", `character '\u2028' at byte 2`},
		{"s\xff", `byte 0xff at byte 1`},
		{"#", "numeric ID"},
		{"#1a", "numeric ID"},
		{"a#1", `'#'`},
		{"$(reboot)", `'$'`},
		{"'x'", `'\''`},
		{`"x"`, `'"'`},
	}
	for _, tt := range invalid {
		err := ValidName("backend", tt.name)
		require.Error(t, err, "%q", tt.name)
		assert.ErrorIs(t, err, ErrInvalidName)
		assert.Contains(t, err.Error(), "backend")
		assert.Contains(t, err.Error(), tt.says, "%q", tt.name)
	}
}

// No valid name can change the shape of a command built from it.
func TestValidNameCannotInject(t *testing.T) {
	for c := 0; c < 256; c++ {
		name := "a" + string(rune(c)) + "b"
		if c >= 0x80 {
			name = "a" + string([]byte{byte(c)}) + "b"
		}
		if ValidName("server", name) != nil {
			continue
		}
		cmd := "set weight app/" + name + " 1"
		assert.Len(t, strings.Fields(cmd), 4, "%q", name)
		assert.NotContains(t, cmd, ";", "%q", name)
		assert.Equal(t, 1, strings.Count(cmd, "/"), "%q", name)
		assert.True(t, nameChar(byte(c)), "%q accepted", name)
	}
}
