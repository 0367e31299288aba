package analysis

import (
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table "Requests to a verdict" in the package doc is ratioTable, the
// one TestSimErrorRatioTable reproduces: a figure changed in one place only
// fails here.
func TestDocRatioTableIsTheSimulatedOne(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments)
	require.NoError(t, err)
	doc := f.Doc.Text()
	num := func(s string) float64 {
		v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		require.NoError(t, err, s)
		return v
	}
	rows := regexp.MustCompile(`(?m)^\s*([\d.]+)×\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*$`).FindAllStringSubmatch(doc, -1)
	require.Len(t, rows, len(ratioTable), "rows of the doc's table")
	for i, r := range rows {
		want := ratioTable[i]
		assert.Equal(t, []float64{want.ratio, want.median, want.p90, want.fixed80},
			[]float64{num(r[1]), num(r[2]), num(r[3]), num(r[4])}, "row %q", strings.TrimSpace(r[0]))
	}
	prose := strings.Join(strings.Fields(doc), " ")
	assert.Contains(t, prose, strconv.FormatFloat(100*ratioTableAA, 'f', 1, 64)+"% false fails", "A/A rate")
	oracle := strconv.Itoa(ratioTableOracle)
	oracle = oracle[:len(oracle)-3] + "," + oracle[len(oracle)-3:]
	assert.Contains(t, prose, "needs a median of "+oracle+" in the same simulation", "Wald's SPRT")
}
