package ramp

import (
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The diagram in the package doc and the transition table are one thing.
func TestDocDiagramMatchesTransitionTable(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "doc.go", nil, parser.ParseComments)
	require.NoError(t, err)
	text := f.Doc.Text()
	line := regexp.MustCompile(`(?m)^\s*(\w+)\s+→\s+(\w+)\s+\S`)
	byName := map[string]Phase{}
	for i, n := range phaseNames {
		byName[strings.ReplaceAll(n, "_", "")] = Phase(i)
	}
	var drawn []string
	for _, m := range line.FindAllStringSubmatch(text, -1) {
		from, ok1 := byName[strings.ToLower(m[1])]
		to, ok2 := byName[strings.ToLower(m[2])]
		require.True(t, ok1 && ok2, "unknown phase in %q", m[0])
		drawn = append(drawn, from.String()+"→"+to.String())
	}
	var table []string
	for from, tos := range transitions {
		for _, to := range tos {
			table = append(table, from.String()+"→"+to.String())
		}
	}
	sort.Strings(drawn)
	sort.Strings(table)
	assert.Equal(t, table, drawn, "doc.go diagram vs the transitions table")
	assert.Len(t, slices.Compact(drawn), len(drawn), "no line twice")
}
