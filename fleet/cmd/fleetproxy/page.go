package main

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

// page is the status page: the fleet's replicas and the rollout as this
// replica sees it (the JSON at /status has everything).
var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"pct": formatPct,
	"ago": func(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() },
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>fleetproxy {{.Fleet.Service}}</title>
<meta http-equiv="refresh" content="2">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}.warn{color:#b00}</style>
</head><body>
<h1>{{.Fleet.Service}}</h1>
<p>This replica: <b>{{.Fleet.Self}}</b>; leader: <b>{{if .Fleet.Leader}}{{.Fleet.Leader}}{{else}}none{{end}}</b>; route revision {{.Fleet.RouteRevision}}.</p>
{{if .Fleet.Fallback}}<p class="warn">Cut off from etcd for longer than the TTL: routing to the stable version.</p>{{end}}
{{if .Fleet.Guarded}}<p class="warn">Local guard moved this replica to stable: {{.Fleet.Guarded}}</p>{{end}}
{{if .Fleet.Error}}<p class="warn">etcd: {{.Fleet.Error}}</p>{{end}}
{{with .Rollout}}<p>Rollout {{.Stable}} → {{.Canary}}: {{.Phase}}, step {{.Step}}, canary {{pct .Percent}} (target {{pct .Target}}){{if .Reason}}: {{.Reason}}{{end}}</p>{{end}}
<table><tr><th>replica</th><th>applied revision</th><th>canary</th><th>last seen</th><th></th></tr>
{{range .Fleet.Replicas}}<tr><td>{{.ID}}</td><td>{{.AppliedRevision}}</td><td>{{pct .CanaryPercent}}</td><td>{{ago .LastSeen}} ago</td><td>{{if .Guarded}}<span class="warn">guarded: {{.Reason}}</span>{{end}}</td></tr>
{{end}}</table>
</body></html>
`))

func formatPct(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) + "%" }

func (p *proxy) servePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
	defer cancel()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, p.status(ctx))
}
