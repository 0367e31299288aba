package termview

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wideView has wide, combining and invalid text in every field.
func wideView() View {
	return View{
		Title: "版本二 → 版本三", Phase: "rolling_back", Canary: "版本三-🚀",
		Share: 37.5, Target: 0, Steps: []float64{1, 2, 5, 10, 20, 50, 75, 100}, Step: 4,
		Versions: []Version{
			{Name: "版本二", RPS: 1234, P99: 8300 * time.Microsecond},
			{Name: "版本三-🚀", RPS: 56, ErrorRate: 0.4, P99: 2 * time.Second},
		},
		Verdict: "fail: 金丝雀 5xx 错误率 42.9% 超过上限 1.0% — cafe\u0301 \xff " + longVerdict,
		Log:     []string{"12:00:00  第一 " + longVerdict, "12:00:01  e\u0301\u0301 \x1b[31m red", "12:00:02  😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀"},
	}
}

// Every row fits, at every width and height, whatever the text.
func TestLayoutFitsEveryWidthAndHeight(t *testing.T) {
	for _, v := range []View{{}, sampleView(9), wideView()} {
		for width := 1; width <= 260; width++ {
			for _, height := range []int{1, 2, 3, 5, 8, 12, 24, 50} {
				rows := v.Rows(width, height)
				require.LessOrEqual(t, len(rows), height)
				for _, r := range rows {
					require.True(t, utf8.ValidString(r), "%q", r)
					require.LessOrEqual(t, Width(r), width, "width %d: %q", width, r)
				}
			}
		}
	}
}

func TestLayoutKeepsTheFrameAndDropsTheLogFirst(t *testing.T) {
	v := sampleView(9) // 8 log lines, a verdict of 3 rows at 80 columns
	rows := v.Rows(80, 100)
	require.Len(t, rows, 6+3+8+1)
	assert.True(t, strings.HasPrefix(rows[0], PanelMarker+"v2 → v3 · progressing · step 1 of 3 "))
	assert.Equal(t, strings.Repeat("─", 80), rows[len(rows)-1])
	assert.Equal(t, 80, Width(rows[0]), "the header fills the width")

	rows = v.Rows(80, 12) // the frame, the verdict, the newest 2 log lines, the rule
	require.Len(t, rows, 12)
	assert.Contains(t, rows[9], "02:09:06")
	assert.Contains(t, rows[10], "02:09:07")
	assert.True(t, strings.HasPrefix(rows[6], " verdict "))

	rows = v.Rows(80, 8) // frame (6) + 1 verdict row + the rule
	require.Len(t, rows, 8)
	assert.True(t, strings.HasSuffix(rows[6], Ellipsis), "the verdict is shortened: %q", rows[6])
	assert.Equal(t, strings.Repeat("─", 80), rows[7])
}

// The bar grows with the terminal up to one cell per percent, with
// eighth-cell resolution, and is made of whole runes.
func TestBarScalesWithWidth(t *testing.T) {
	for _, tc := range []struct {
		width, cells int
	}{{40, 27}, {80, 67}, {120, 100}, {250, 100}} {
		v := View{Canary: "v2", Share: 50, Target: 50}
		bar := v.Rows(tc.width, 10)[1]
		body := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(bar), "50.00%"))
		body = strings.TrimPrefix(body, "v2 ")
		assert.Equal(t, tc.cells, utf8.RuneCountInString(body), "width %d: %q", tc.width, bar)
		assert.Equal(t, tc.cells, Width(body))
		filled := strings.Count(body, "█")
		assert.InDelta(t, tc.cells/2, filled, 1, "%q", body)
	}
	for _, tc := range []struct {
		percent float64
		cells   int
		want    string
	}{
		{0, 8, "░░░░░░░░"}, {100, 8, "████████"}, {50, 8, "████░░░░"},
		{12.5, 8, "█░░░░░░░"}, {6.25, 8, "▌░░░░░░░"}, {1, 8, "▏░░░░░░░"},
		{-5, 4, "░░░░"}, {150, 4, "████"},
	} {
		f, p, e := barCells(tc.percent, tc.cells)
		assert.Equal(t, tc.want, f+p+e, "%v%% of %d", tc.percent, tc.cells)
	}
}

func TestStepsRowWindowsAroundTheStepInForce(t *testing.T) {
	v := wideView() // 8 steps, the 5th in force
	assert.Equal(t, " steps   1% → 2% → 5% → 10% → [20%] → 50% → 75% → 100%", v.Rows(80, 10)[2])
	row := v.Rows(30, 10)[2]
	assert.Contains(t, row, "[20%]")
	assert.LessOrEqual(t, Width(row), 30)
	assert.Contains(t, row, Ellipsis)
}

func TestStepText(t *testing.T) {
	for _, tc := range []struct {
		steps []float64
		step  int
		want  string
	}{
		{nil, -1, ""}, {nil, 0, "step 1"}, {[]float64{10, 100}, -1, "2 steps"},
		{[]float64{10, 100}, 0, "step 1 of 2"}, {[]float64{10, 100}, 1, "step 2 of 2"},
		{[]float64{10, 100}, 2, "step 2 of 2"},
	} {
		assert.Equal(t, tc.want, View{Steps: tc.steps, Step: tc.step}.stepText())
	}
}

func TestPercent(t *testing.T) {
	for p, want := range map[float64]string{0: "0%", 10: "10%", 12.5: "12.5%", 0.126: "0.13%", 33.333: "33.33%", 100: "100%"} {
		assert.Equal(t, want, Percent(p), "%v", p)
	}
}
