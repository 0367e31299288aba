package traffic

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzRouteValidate feeds arbitrary routes (as JSON) to Apply, then routes
// a request carrying an arbitrary header through whatever was accepted.
// Apply must never panic; a rejected route must leave the route in force
// as it was; an accepted one must be what Current reports and must route
// every request to a named backend, or refuse it with 503 only when no
// backend has a share.
func FuzzRouteValidate(f *testing.F) {
	f.Add([]byte(`{"weights":[{"backend":"canary","percent":10},{"backend":"stable","percent":90}]}`), "X-Canary", "always")
	f.Add([]byte(`{"weights":[{"backend":"stable","percent":100}],"rules":[{"header":"X-Canary","match":2,"value":"^al+ways$","backend":"canary"}]}`), "X-Canary", "allways")
	f.Add([]byte(`{"rules":[{"cookie":"beta","match":1,"value":"y","backend":"canary"}]}`), "Cookie", "beta=yes")
	f.Add([]byte(`{"weights":[{"backend":"stable","percent":100}],"mirror":{"backend":"canary","percent":50}}`), "", "")
	f.Add([]byte(`{"weights":[{"backend":"ghost","percent":-1}],"rules":[{"header":"a b","match":9,"value":"(","backend":""}],"mirror":{"backend":"x","percent":101}}`), "A", "b")
	f.Fuzz(func(t *testing.T, data []byte, header, value string) {
		var route Route
		if json.Unmarshal(data, &route) != nil {
			return
		}
		s, err := NewSplitter(twoBackends(), Options{MirrorConcurrency: 1})
		require.NoError(t, err)
		defer s.Shutdown(context.Background())
		before := Split("stable", "canary", 50)
		require.NoError(t, s.Apply(context.Background(), before))

		if err := s.Apply(context.Background(), route); err != nil {
			require.ErrorIs(t, err, ErrInvalidRoute)
			cur, _ := s.Current(context.Background())
			require.Equal(t, before, cur)
			return
		}
		cur, _ := s.Current(context.Background())
		require.Len(t, cur.Weights, len(route.Weights))
		require.Len(t, cur.Rules, len(route.Rules))
		for _, w := range route.Weights {
			require.Equal(t, route.Percent(w.Backend), cur.Percent(w.Backend))
		}

		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header[header] = []string{value}
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		switch got := w.Header().Get("X-Backend"); got {
		case "stable", "canary":
			require.Equal(t, http.StatusOK, w.Code)
			require.True(t, route.Percent(got) > 0 || len(route.Rules) > 0, "%q has no share and no rule", got)
		case "":
			require.Equal(t, http.StatusServiceUnavailable, w.Code)
			total := route.Percent("stable") + route.Percent("canary")
			require.Less(t, toUnits(total), uint64(1), "refused although weights add up to %v", total)
		default:
			t.Fatalf("unknown backend %q", got)
		}
	})
}

// FuzzStickyKey routes requests with arbitrary sticky header and Cookie
// bytes. The same request must always reach the same backend; a request
// without a key must get a fresh cookie, and one with a key none.
func FuzzStickyKey(f *testing.F) {
	f.Add("alice", "")
	f.Add("", "ramp=k42")
	f.Add("", `ramp="quoted"; other=1`)
	f.Add("", "ramp=; ramp=second")
	f.Add("\x00\xff\r\n", ";;;=;ramp ;=ramp")
	f.Add(strings.Repeat("k", 4096), "a=b")
	f.Fuzz(func(t *testing.T, key, cookie string) {
		s, err := NewSplitter(twoBackends(), Options{
			Route:        Split("stable", "canary", 37.5),
			StickyKey:    HeaderKey("X-User"),
			StickyCookie: &http.Cookie{Name: "ramp"},
		})
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["X-User"] = []string{key}
		r.Header["Cookie"] = []string{cookie}

		cv := cookieValue(r.Header, "ramp")
		require.True(t, strings.Contains(cookie, cv), "cookie value %q is not part of %q", cv, cookie)
		hasKey := key != "" || cv != ""

		first := httptest.NewRecorder()
		s.ServeHTTP(first, r)
		b := first.Header().Get("X-Backend")
		require.Contains(t, []string{"stable", "canary"}, b)
		setCookie := first.Header().Values("Set-Cookie")
		if hasKey {
			require.Empty(t, setCookie)
			for range 3 {
				again := httptest.NewRecorder()
				s.ServeHTTP(again, r)
				require.Equal(t, b, again.Header().Get("X-Backend"))
			}
			return
		}
		require.Len(t, setCookie, 1)
		// The browser comes back with the cookie it was given.
		c, err := http.ParseSetCookie(setCookie[0])
		require.NoError(t, err)
		r.Header["Cookie"] = []string{c.Name + "=" + c.Value}
		again := httptest.NewRecorder()
		s.ServeHTTP(again, r)
		assert.Equal(t, b, again.Header().Get("X-Backend"))
		assert.Empty(t, again.Header().Values("Set-Cookie"))
	})
}

// FuzzClientIPKey checks that any RemoteAddr yields a key that is part of
// it, without panicking.
func FuzzClientIPKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1:80", "[2001:db8::1]:443", "2001:db8::1", "[", "]:", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		r := &http.Request{RemoteAddr: addr}
		require.True(t, strings.Contains(addr, ClientIPKey(r)))
	})
}
