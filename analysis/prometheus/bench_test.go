package prometheus

import (
	"fmt"
	"strings"
	"testing"
)

func BenchmarkTemplateRender(b *testing.B) {
	tm := MustParseTemplate(errRateTmpl)
	vars := map[string]string{"backend": `canary-"v2"`, "window": "1m30s"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Render(vars); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeVector(b *testing.B) {
	body := []byte(vectorOf("0.032"))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeResponse(200, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeMatrix decodes a range query answer of 10 series of 120
// points each (a 10-minute window at a 5 s step, per instance).
func BenchmarkDecodeMatrix(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for s := range 10 {
		if s > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"metric":{"backend":"canary","pod":"pod-%d"},"values":[`, s)
		for p := range 120 {
			if p > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `[%d.5,"%g"]`, 1700000000+5*p, 0.001*float64(p%7))
		}
		sb.WriteString(`]}`)
	}
	sb.WriteString(`]}}`)
	body := []byte(sb.String())
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeResponse(200, body); err != nil {
			b.Fatal(err)
		}
	}
}
