package prometheus

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTemplateRender(t *testing.T) {
	tests := []struct {
		name string
		tmpl string
		vars map[string]string
		want string
	}{
		{"plain", `up`, nil, `up`},
		{"label", `x{backend="{{backend}}"}`, map[string]string{"backend": "canary"}, `x{backend="canary"}`},
		{"spaces in braces", `x{b="{{ backend }}"}`, map[string]string{"backend": "v2"}, `x{b="v2"}`},
		{"double quote escaped", `x{b="{{v}}"}`, map[string]string{"v": `a"} or vector(1) #`}, `x{b="a\"} or vector(1) #"}`},
		{"backslash escaped", `x{b="{{v}}"}`, map[string]string{"v": `a\`}, `x{b="a\\"}`},
		{"newline escaped", `x{b="{{v}}"}`, map[string]string{"v": "a\nb\r\tc"}, `x{b="a\nb\r\tc"}`},
		{"control byte escaped", `x{b="{{v}}"}`, map[string]string{"v": "a\x00\x7f"}, `x{b="a\x00\x7f"}`},
		{"invalid utf8 escaped", `x{b="{{v}}"}`, map[string]string{"v": "a\xff"}, `x{b="a\xff"}`},
		{"unicode kept", `x{b="{{v}}"}`, map[string]string{"v": "é✓"}, `x{b="é✓"}`},
		{"single quote context", `x{b='{{v}}'}`, map[string]string{"v": `it's "q"`}, `x{b='it\'s "q"'}`},
		{"double quote context keeps single", `x{b="{{v}}"}`, map[string]string{"v": `it's`}, `x{b="it's"}`},
		{"raw string", "x{b=`{{v}}`}", map[string]string{"v": `a\n"`}, "x{b=`a\\n\"`}"},
		{"regex quoted", `x{code=~"{{v}}"}`, map[string]string{"v": "5.."}, `x{code=~"5\\.\\."}`},
		{"regex neg quoted", `x{code !~ "{{v}}|4.."}`, map[string]string{"v": "a|b"}, `x{code !~ "a\\|b|4.."}`},
		{"not regex after =", `x{code="{{v}}"}`, map[string]string{"v": "5.."}, `x{code="5.."}`},
		{"window duration", `rate(x[{{window}}])`, map[string]string{"window": "1m30s"}, `rate(x[1m30s])`},
		{"number", `histogram_quantile({{q}}, x)`, map[string]string{"q": "0.99"}, `histogram_quantile(0.99, x)`},
		{"exponent", `x > {{q}}`, map[string]string{"q": "1e-3"}, `x > 1e-3`},
		{"placeholder twice", `a{b="{{v}}"} / c{b="{{v}}"}`, map[string]string{"v": "z"}, `a{b="z"} / c{b="z"}`},
		{"escaped quote in literal keeps context", `x{a="q\"{{v}}"}`, map[string]string{"v": `"`}, `x{a="q\"\""}`},
		{"comment quote ignored", "x # it's\n+ y{b=\"{{v}}\"}", map[string]string{"v": `"`}, "x # it's\n+ y{b=\"\\\"\"}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := ParseTemplate(tc.tmpl)
			require.NoError(t, err)
			got, err := tm.Render(tc.vars)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.tmpl, tm.String())
		})
	}
}

func TestTemplateRenderRefuses(t *testing.T) {
	tests := []struct {
		name string
		tmpl string
		vars map[string]string
		want string
	}{
		{"missing", `x{b="{{v}}"}`, nil, `variable "v" (offset 5) has no value`},
		{"name outside string", `x + {{v}}`, map[string]string{"v": "a"}, `variable "v" (offset 4): value "a" outside a string literal`},
		{"signed number", `x{{n}}`, map[string]string{"n": "-1"}, `value "-1" outside a string literal`},
		{"injection in range", `rate(x[{{w}}])`, map[string]string{"w": "5m]) or vector(1"}, `variable "w"`},
		{"empty in code", `rate(x[{{w}}])`, map[string]string{"w": ""}, `value "" outside`},
		{"NaN in code", `x > {{q}}`, map[string]string{"q": "NaN"}, `value "NaN"`},
		{"backquote in raw", "x{b=`{{v}}`}", map[string]string{"v": "a`b"}, "contains a backquote"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := ParseTemplate(tc.tmpl)
			require.NoError(t, err)
			_, err = tm.Render(tc.vars)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		name, tmpl, want string
	}{
		{"unclosed placeholder", `x{b="{{v"}`, `offset 5: "{{" without a closing "}}"`},
		{"bad name", `x{b="{{1v}}"}`, `offset 5: placeholder "{{1v}}"`},
		{"empty name", `x{b="{{ }}"}`, `placeholder "{{ }}"`},
		{"dotted name", `x{b="{{.v}}"}`, `placeholder "{{.v}}"`},
		{"open string", `x{b="abc}`, `string literal opened at offset 4 is never closed`},
		{"open raw", "x{b=`abc}", `string literal opened at offset 4 is never closed`},
		{"newline in string", "x{b=\"a\nb\"}", `newline inside the string literal opened at offset 4`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTemplate(tc.tmpl)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestTemplateVars(t *testing.T) {
	text := `a{x="{{b}}",y="{{a}}"}[{{window}}] + {{ b }}`
	tm := MustParseTemplate(text)
	assert.Equal(t, []string{"a", "b", "window"}, tm.Vars())
	assert.Equal(t, strings.Index(text, "{{window}}"), tm.inCode("window"))
	assert.Equal(t, -1, tm.inCode("a"), "a is only inside a string")
	assert.Equal(t, strings.Index(text, "{{ b }}"), tm.inCode("b"), "the second b is in code")

	var zero *Template
	got, err := zero.Render(nil)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Nil(t, zero.Vars())
	assert.Panics(t, func() { MustParseTemplate("{{") })
}

// unquotePromQL decodes a PromQL double- or single-quoted literal by the
// rules of Prometheus's util/strutil.Unquote: Go's escapes, where a
// single-quoted literal may hold many characters.
func unquotePromQL(t *testing.T, lit string) string {
	t.Helper()
	require.GreaterOrEqual(t, len(lit), 2)
	q := lit[0]
	require.Equal(t, q, lit[len(lit)-1])
	body := lit[1 : len(lit)-1]
	var b strings.Builder
	for len(body) > 0 {
		r, mb, tail, err := strconv.UnquoteChar(body, q)
		require.NoError(t, err, "literal %s", lit)
		if r < 0x80 || mb {
			b.WriteRune(r)
		} else {
			b.WriteByte(byte(r))
		}
		body = tail
	}
	return b.String()
}

func TestQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b`, `a\b`, "a\nb", "tab\t", "\x00\x01\x1f\x7f", "é✓", "a\xffb", `\"`, `'`} {
		q := Quote(s)
		assert.Equal(t, s, unquotePromQL(t, q), "Quote(%q) = %s", s, q)
		assert.NotContains(t, q[1:len(q)-1], "\n")
	}
}

// FuzzTemplateLabelValue checks that no value placed in a label matcher
// can leave its string literal: the rendered query holds exactly one
// literal, and it decodes back to the value.
func FuzzTemplateLabelValue(f *testing.F) {
	for _, s := range []string{"canary", `a"} or vector(1) #`, `\`, "\n", "'", "`", "5..", "é", "\xff"} {
		f.Add(s)
	}
	dq := MustParseTemplate(`x{backend="{{v}}"}`)
	sq := MustParseTemplate(`x{backend='{{v}}'}`)
	re := MustParseTemplate(`x{backend=~"{{v}}"}`)
	f.Fuzz(func(t *testing.T, v string) {
		vars := map[string]string{"v": v}
		for _, tc := range []struct {
			tm    *Template
			regex bool
		}{{dq, false}, {sq, false}, {re, true}} {
			got, err := tc.tm.Render(vars)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(got, "x{backend="))
			require.True(t, strings.HasSuffix(got, "}"))
			lit := strings.TrimPrefix(got[:len(got)-1], "x{backend=")
			lit = strings.TrimPrefix(lit, "~")
			dec := unquotePromQL(t, lit)
			if tc.regex {
				want := regexp.QuoteMeta(v)
				require.Equal(t, want, dec)
			} else {
				require.Equal(t, v, dec)
			}
		}
	})
}
