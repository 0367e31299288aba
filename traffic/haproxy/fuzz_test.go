package haproxy

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseWeight: ParseWeight never panics, accepts only weights HAProxy
// can have, and accepts exactly what it would print back the same way.
func FuzzParseWeight(f *testing.F) {
	for _, s := range []string{
		"100 (initial 100)\n\n", "0 (initial 0)\n\n", "256 (initial 1)\n", "No such backend.\n\n",
		"Require 'backend/server'.\n\n", "1 (initial 1)\n\n1 (initial 1)\n\n", "", "\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, ok := ParseWeight(s)
		if !ok {
			if w != (ServerWeight{}) {
				t.Fatalf("%q: refused but returned %+v", s, w)
			}
			return
		}
		if w.Current < 0 || w.Current > MaxWeight || w.Initial < 0 || w.Initial > MaxWeight {
			t.Fatalf("%q: out of range %+v", s, w)
		}
		canon := fmt.Sprintf("%d (initial %d)", w.Current, w.Initial)
		if strings.TrimRight(s, "\n") != canon {
			t.Fatalf("%q: accepted as %+v, which prints as %q", s, w, canon)
		}
	})
}

// FuzzValidName: a name ValidName accepts can never change the shape of
// the command it is put in.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"app", "s1", "#3", "a b", "a;b", "a\nb", "a/b", `a\b`, "é", "#", "#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidName("server", name) != nil {
			return
		}
		cmd := "set weight " + name + "/" + name + " 1"
		if f := strings.Fields(cmd); len(f) != 4 {
			t.Fatalf("%q: command %q has %d fields", name, cmd, len(f))
		}
		if strings.ContainsAny(cmd, ";\\\r\n\x00") || strings.Count(cmd, "/") != 1 {
			t.Fatalf("%q: command %q can be split", name, cmd)
		}
	})
}

// FuzzWeights: any shares Weights accepts give weights in range that keep
// zero shares at zero and give every other share some weight.
func FuzzWeights(f *testing.F) {
	f.Add(10.0, 90.0, 0.0)
	f.Add(0.01, 99.99, 0.0)
	f.Add(33.33, 33.33, 33.34)
	f.Add(0.0, 0.0, 0.0)
	f.Add(-1.0, 1e308, 1e-300)
	f.Fuzz(func(t *testing.T, a, b, c float64) {
		checkWeights(t, []float64{a, b}) // the two-server path
		checkWeights(t, []float64{a, b, c})
	})
}

func checkWeights(t *testing.T, shares []float64) {
	t.Helper()
	w, err := Weights(shares)
	if err != nil {
		return
	}
	sum := 0
	for i, x := range w {
		if x < 0 || x > MaxWeight {
			t.Fatalf("%v: weight %d out of range", shares, x)
		}
		if (x == 0) != (shares[i] == 0) {
			t.Fatalf("%v: share %v got weight %d", shares, shares[i], x)
		}
		sum += x
	}
	if sum == 0 {
		t.Fatalf("%v: all weights zero", shares)
	}
	p := Percents(w)
	var total float64
	for _, x := range p {
		total += x
	}
	if total < 99.999 || total > 100.001 {
		t.Fatalf("%v → %v → %v: shares add up to %v", shares, w, p, total)
	}
}
