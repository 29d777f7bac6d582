package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Report is a whole run: the machine, the ceiling, every scenario and the
// issue's targets judged against them. It is what -json writes.
type Report struct {
	Date          string             `json:"date"`
	Commit        string             `json:"commit"`
	Go            string             `json:"go"`
	CPUs          int                `json:"cpus"`
	MemGiB        float64            `json:"mem_gib"`
	LoadBefore    float64            `json:"load_before"`
	Options       map[string]any     `json:"options"`
	Postgres      map[string]string  `json:"postgres_settings"`
	Durable       bool               `json:"postgres_durable"` // fsync, full-page writes and synchronous commit on
	Ceiling       map[string]float64 `json:"raw_ceiling_by_concurrency"`
	CeilingPerSec float64            `json:"raw_ceiling_per_s"`
	CeilingCPU    float64            `json:"raw_ceiling_cpu_us_per_request"`
	Results       []Result           `json:"results"`
	Targets       []Target           `json:"targets"`
}

// Target is one of the targets and how the run did against it.
type Target struct {
	Name     string `json:"name"`
	Want     string `json:"want"`
	Got      string `json:"got"`
	Met      bool   `json:"met"`
	Measured bool   `json:"measured"`
}

func find(rs []Result, name string) *Result {
	for i := range rs {
		if rs[i].Scenario == name && rs[i].Error == "" {
			return &rs[i]
		}
	}
	return nil
}

// targets judges the targets.
func targets(rs []Result, ceiling float64) []Target {
	var out []Target
	add := func(name, want string, r *Result, got func(r *Result) (string, bool)) {
		t := Target{Name: name, Want: want, Got: "not run"}
		if r != nil {
			t.Got, t.Met = got(r)
			t.Measured = true
		}
		out = append(out, t)
	}
	add("max", "≥ 0.5 × raw ceiling", find(rs, "max"), func(r *Result) (string, bool) {
		// Met only if the rates and the CPU agree: on a busy machine the
		// rates alone mislead (see docs/performance.md).
		return fmt.Sprintf("%.0f/s = %.3f × %.0f/s (by CPU: %.3f ×)", r.PerSec, r.CeilingRatio, ceiling, r.CPURatio),
			r.CeilingRatio >= 0.5 && r.CPURatio >= 0.5 && r.ExactlyOnce
	})
	add("steady", "p99 publish→2xx ≤ 50 ms", find(rs, "steady"), func(r *Result) (string, bool) {
		return fmt.Sprintf("p99 %.1f ms at %.0f events/s", r.Latency.P99, r.Rate), r.Latency.P99 <= 50 && r.Missing == 0
	})
	add("slow", "healthy ≥ 0.9 × max", find(rs, "slow"), func(r *Result) (string, bool) {
		if r.VsMax == 0 {
			return fmt.Sprintf("%.0f/s healthy (max not run)", r.PerSec), false
		}
		return fmt.Sprintf("%.0f/s healthy = %.2f × max, p99 %.0f ms", r.PerSec, r.VsMax, r.Latency.P99), r.VsMax >= 0.9 && r.Missing == 0
	})
	add("fanout", "≥ 0.8 × max", find(rs, "fanout"), func(r *Result) (string, bool) {
		if r.VsMax == 0 {
			return fmt.Sprintf("%.0f/s (max not run)", r.PerSec), false
		}
		return fmt.Sprintf("%.0f/s = %.2f × max", r.PerSec, r.VsMax), r.VsMax >= 0.8 && r.Missing == 0
	})
	add("fanout-filtered", "≥ 0.9 × fanout (a passing CEL filter on every endpoint)", find(rs, "fanout-filtered"), func(r *Result) (string, bool) {
		if r.VsUnfiltered == 0 {
			return fmt.Sprintf("%.0f/s (fanout not run)", r.PerSec), false
		}
		return fmt.Sprintf("%.0f/s = %.2f × fanout", r.PerSec, r.VsUnfiltered), r.VsUnfiltered >= 0.9 && r.Missing == 0
	})
	add("fair", "b's p99 ≤ 50 ms during a's backlog", find(rs, "fair"), func(r *Result) (string, bool) {
		f := r.Fair
		return fmt.Sprintf("p99 %.1f ms during a's %d deliveries (%.1f ms alone)", f.During.P99, f.Backlogged.Events*f.Backlogged.Fanout, f.Alone.P99),
			f.During.N > 0 && f.During.P99 <= 50 && r.Missing == 0
	})
	add("ingest", "≥ 10,000 events/s over POST /v1/events, 32 clients", find(rs, "ingest"), func(r *Result) (string, bool) {
		if r.Ingest == nil {
			return "no ingest figures", false
		}
		return fmt.Sprintf("%.0f events/s with %d clients, p99 %.1f ms", r.Ingest.PerSec, r.Ingest.Clients, r.Ingest.Latency.P99),
			r.Ingest.PerSec >= 10000 && r.Ingest.Refused+r.Ingest.Errors == 0 && r.ExactlyOnce
	})
	add("ordered", "≥ 1,000 deliveries/s across 100 keys, in order", find(rs, "ordered"), func(r *Result) (string, bool) {
		return fmt.Sprintf("%.0f/s, %d order violations, p99 %.0f ms", r.PerSec, r.OrderViolations, r.Latency.P99),
			r.PerSec >= 1000 && r.OrderViolations == 0 && r.ExactlyOnce
	})
	add("scale", "deliveries/s of two deliver,sink processes ÷ one", find(rs, "scale-2"), func(r *Result) (string, bool) {
		one := find(rs, "scale-1")
		if one == nil || r.VsMax == 0 {
			return "scale-1 missing", false
		}
		return fmt.Sprintf("%.0f/s with one, %.0f/s with two = %.2f ×", one.PerSec, r.PerSec, r.VsMax), r.VsMax > 1 && r.ExactlyOnce && one.ExactlyOnce
	})
	add("tracing", "tracing off: a traceparent on every event costs nothing measurable", find(rs, "tracing-off-traceparent"), func(r *Result) (string, bool) {
		off, on, again := find(rs, "tracing-off"), find(rs, "tracing-on"), find(rs, "tracing-off-again")
		if off == nil || r.VsMax == 0 {
			return "tracing-off missing", false
		}
		got := fmt.Sprintf("off %.0f/s; off with traceparent %.0f/s = %.3f ×", off.PerSec, r.PerSec, r.VsMax)
		if on != nil {
			got += fmt.Sprintf("; on (OTLP) %.0f/s = %.3f ×", on.PerSec, on.VsMax)
		}
		noise := 0.0
		if again != nil && again.VsMax > 0 {
			noise = max(again.VsMax-1, 1-again.VsMax)
			got += fmt.Sprintf("; off again %.0f/s = %.3f × (the noise)", again.PerSec, again.VsMax)
		}
		return got, r.VsMax >= 1-max(0.05, noise) && r.ExactlyOnce
	})
	add("backlog", "peak RSS ≤ 256 MiB", find(rs, "backlog"), func(r *Result) (string, bool) {
		return fmt.Sprintf("%.0f MiB after %d events", r.PeakRSSMiB, r.Events), r.PeakRSSMiB <= 256 && r.Missing == 0
	})
	return out
}

// postgresLine labels the run durable or not, with the settings that say so.
func (rep *Report) postgresLine() string {
	label := "DURABLE"
	if !rep.Durable {
		label = "NOT DURABLE (fast, unsafe figures: a crash loses acknowledged writes)"
	}
	s := rep.Postgres
	return fmt.Sprintf("%s %s: fsync=%s synchronous_commit=%s full_page_writes=%s shared_buffers=%s wal_buffers=%s max_wal_size=%s checkpoint_timeout=%s",
		s["server_version"], label, s["fsync"], s["synchronous_commit"], s["full_page_writes"], s["shared_buffers"],
		s["wal_buffers"], s["max_wal_size"], s["checkpoint_timeout"])
}

func (rep *Report) print(w io.Writer) {
	fmt.Fprintf(w, "\nhookstream bench  %s  commit %s  %s  %d CPUs  %.0f GiB  load before %.2f\n",
		rep.Date, rep.Commit, rep.Go, rep.CPUs, rep.MemGiB, rep.LoadBefore)
	fmt.Fprintf(w, "Postgres: %s\n", rep.postgresLine())
	fmt.Fprintf(w, "raw ceiling (Go client → receiver, best before/after): %.0f requests/s, %.0f CPU µs per request (client and receiver)\n", rep.CeilingPerSec, rep.CeilingCPU)
	fmt.Fprintf(w, "load average at the end: %.2f (×ceiling compares rates; ×cpu compares CPU per delivery with CPU per raw request, which other work on the machine sways less)\n\n", loadAvg())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmode\tdeliveries\tdeliv/s\t×ceiling\t×cpu\tp50 ms\tp99 ms\tmax ms\tpeak RSS MiB\trows/s\texactly once\tcores hs/kafka/bench/pg/other\tcpu µs/deliv hs/all\t")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\terror: %s\t\t\t\t\t\t\t\t\t\t\t\t\n", r.Scenario, r.Mode, r.Error)
			continue
		}
		once := "yes"
		if !r.ExactlyOnce {
			once = fmt.Sprintf("no: %d missing, %d dup", r.Missing, r.Duplicates)
			if r.OrderViolations > 0 {
				once += fmt.Sprintf(", %d out of order", r.OrderViolations)
			}
			if r.Unexpected+r.BadSig+r.BadID > 0 {
				once += fmt.Sprintf(", %d unexpected, %d bad sig, %d bad id", r.Unexpected, r.BadSig, r.BadID)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%.0f\t%.3f\t%.3f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%s\t%.2f/%.2f/%.2f/%.2f/%.2f\t%.0f/%.0f\t\n",
			r.Scenario, r.Mode, r.Delivered, r.Expected, r.PerSec, r.CeilingRatio, r.CPURatio,
			r.Latency.P50, r.Latency.P99, r.Latency.Max, r.PeakRSSMiB, r.RowsPerSec, once,
			r.CPU.Hookstream, r.CPU.Broker, r.CPU.Bench, r.CPU.Postgres, r.CPU.Other,
			r.CPU.HookstreamPerDelivery, r.CPU.OursPerDelivery)
	}
	tw.Flush()
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s: %s\n", r.Scenario, n)
		}
	}
	if r := find(rep.Results, "ingest"); r != nil && r.Ingest != nil {
		in := r.Ingest
		fmt.Fprintf(w, "\ningest: POST /v1/events with %d clients, API process alone: %.0f events/s accepted (%d requests, %d of them repeats of an Idempotency-Key, %.0f requests/s), request p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms; %d refused, %d errors; cores api/kafka/pg/bench/other %.2f/%.2f/%.2f/%.2f/%.2f; then delivered exactly once: %v\n",
			in.Clients, in.PerSec, in.Requests, in.Repeats, in.ReqPerSec, in.Latency.P50, in.Latency.P90, in.Latency.P99, in.Latency.Max,
			in.Refused, in.Errors, in.CoresAPI, in.CoresKafk, in.CoresPG, in.CoresBnch, in.Other, r.ExactlyOnce)
	}
	for _, r := range rep.Results {
		if len(r.Statements) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: Postgres statements by total time (pg_stat_statements)\n", r.Scenario)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  total ms\tcalls\trows\tmean ms\tWAL MiB\tquery")
		for _, st := range r.Statements {
			fmt.Fprintf(tw, "  %.0f\t%d\t%d\t%.2f\t%.1f\t%s\n", st.TotalMS, st.Calls, st.Rows, st.MeanMS, st.WALMiB, st.Query)
		}
		tw.Flush()
	}
	if b := find(rep.Results, "backlog"); b != nil && len(b.Series) > 0 {
		fmt.Fprintf(w, "\nbacklog over time (t s: delivered, RSS MiB):")
		step := max(1, len(b.Series)/10)
		for i := 0; i < len(b.Series); i += step {
			s := b.Series[i]
			fmt.Fprintf(w, "  %.0f: %d, %.0f", s.T, s.Delivered, s.RSSMiB)
		}
		fmt.Fprintln(w)
	}
	for _, r := range rep.Results {
		if r.Fair != nil && r.Error == "" {
			r.Fair.print(w, r.Scenario)
		}
	}
	fmt.Fprintln(w, "\ntargets (issues 5, 11 and 17):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range rep.Targets {
		verdict := "not run"
		if t.Measured {
			verdict = map[bool]string{true: "met", false: "MISSED"}[t.Met]
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, t.Want, t.Got, verdict)
	}
	tw.Flush()
}

func (f *Fair) print(w io.Writer, scenario string) {
	lanes := "lanes on"
	if !f.Lanes {
		lanes = "lanes off"
	}
	a, b := f.Backlogged, f.Steady
	fmt.Fprintf(w, "\n%s (%s): tenant %s's backlog of %d events × %d endpoints (of %d), tenant %s at %.0f events/s to %d endpoint\n",
		scenario, lanes, a.ID, a.Events, a.Fanout, a.Endpoints, b.ID, b.Rate, b.Endpoints)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  %s publish→2xx\tevents\tp50 ms\tp90 ms\tp99 ms\tmax ms\t\n", b.ID)
	for _, row := range []struct {
		name string
		s    Summary
	}{{"alone, before", f.Alone}, {"during " + a.ID + "'s backlog", f.During},
		{"  of which while dispatching it", f.DuringDispatch}, {"  of which after its dispatch", f.DuringDrain},
		{"after", f.After}} {
		fmt.Fprintf(tw, "  %s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", row.name, row.s.N, row.s.P50, row.s.P90, row.s.P99, row.s.Max)
	}
	tw.Flush()
	fmt.Fprintf(w, "  %s: %d/%d delivered at %.0f/s, published in %.1f s, dispatched %.1f s and drained %.1f s after its start; %.0f tasks in the bulk lane\n",
		a.ID, a.Delivered, a.Events*a.Fanout, a.PerSec, a.PublishSecs, f.DispatchedSecs, a.DrainSecs, f.BulkTasks)
	if f.Retrying+f.Dead > 0 {
		fmt.Fprintf(w, "  attempts not 2xx: %.0f retrying, %.0f dead\n", f.Retrying, f.Dead)
	}
}
