package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// QuarantineStore is what the quarantine routes read and mark: the index of
// the quarantine topic (see pipeline.QuarantineIndexer).
type QuarantineStore interface {
	Quarantined(ctx context.Context, f schema.QuarantineFilter) ([]schema.Quarantined, error)
	QuarantinedRecord(ctx context.Context, part int32, offset int64) (schema.Quarantined, error)
	Redrive(ctx context.Context, part int32, offset int64, put func(context.Context, schema.Quarantined) error) (schema.Quarantined, error)
}

// Redriver puts a quarantined record back where it came from.
type Redriver interface {
	Redrive(ctx context.Context, q schema.Quarantined) error
}

// listValueBytes bounds the key and value a listing shows of each record;
// GET /v1/quarantine/{id} shows them whole.
const listValueBytes = 4 << 10

type quarantinedJSON struct {
	ID              string       `json:"id"`
	Stage           string       `json:"stage"`
	Reason          string       `json:"reason"`
	Topic           string       `json:"topic"`
	SourcePartition int32        `json:"source_partition"`
	SourceOffset    int64        `json:"source_offset"`
	QuarantinedAt   time.Time    `json:"quarantined_at"`
	RedrivenAt      *time.Time   `json:"redriven_at"`
	Key             *bytesJSON   `json:"key,omitempty"`
	Value           bytesJSON    `json:"value"`
	Headers         []headerJSON `json:"headers"`
}

// bytesJSON shows bytes as text when they are clean text, else as base64.
type bytesJSON struct {
	Data      string `json:"data"`
	Encoding  string `json:"encoding"` // "text" or "base64"
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
}

type headerJSON struct {
	Key   string    `json:"key"`
	Value bytesJSON `json:"value"`
}

func toBytesJSON(b []byte, limit int) bytesJSON {
	out := bytesJSON{Size: len(b), Encoding: "text"}
	if limit > 0 && len(b) > limit {
		b, out.Truncated = b[:limit], true
	}
	var b64 bool
	out.Data, b64 = schema.TextOrBase64(b, out.Truncated)
	if b64 {
		out.Encoding = "base64"
	}
	return out
}

func toQuarantinedJSON(q schema.Quarantined, limit int) quarantinedJSON {
	out := quarantinedJSON{
		ID: quarantineID(q.Partition, q.Offset), Stage: q.Stage, Reason: q.Reason, Topic: q.Topic,
		SourcePartition: q.SourcePartition, SourceOffset: q.SourceOffset, QuarantinedAt: q.At.UTC(),
		RedrivenAt: q.RedrivenAt, Value: toBytesJSON(q.Value, limit), Headers: []headerJSON{},
	}
	if q.Key != nil {
		k := toBytesJSON(q.Key, limit)
		out.Key = &k
	}
	for _, h := range q.Headers {
		out.Headers = append(out.Headers, headerJSON{Key: h.Key, Value: toBytesJSON(h.Value, limit)})
	}
	return out
}

// quarantineID names a quarantined record: "<partition>-<offset>" in the
// quarantine topic.
func quarantineID(part int32, offset int64) string {
	return strconv.Itoa(int(part)) + "-" + strconv.FormatInt(offset, 10)
}

func parseQuarantineID(s string) (int32, int64, bool) {
	p, o, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	part, err1 := strconv.ParseInt(p, 10, 32)
	off, err2 := strconv.ParseInt(o, 10, 64)
	return int32(part), off, err1 == nil && err2 == nil && part >= 0 && off >= 0
}

// formatQuarantineCursor and parseQuarantineCursor make and read a
// listing's cursor as the history lists do (see formatCursor): the time in
// unix microseconds, a dot, and the record's id, whose partition has at
// most 9 digits and offset 18, so that every string of that form (the
// document's pattern) is a position.
func formatQuarantineCursor(c schema.QuarantineCursor) string {
	return formatCursor(schema.Cursor{CreatedAt: c.At, ID: quarantineID(c.Partition, c.Offset)})
}

func parseQuarantineCursor(s string) (schema.QuarantineCursor, bool) {
	c, ok := parseCursor(s)
	if !ok {
		return schema.QuarantineCursor{}, false
	}
	p, o, ok := strings.Cut(c.ID, "-")
	part, off, valid := parseQuarantineID(c.ID)
	if !ok || !valid || len(p) > 9 || len(o) > 18 || strings.Trim(p+o, "0123456789") != "" {
		return schema.QuarantineCursor{}, false
	}
	return schema.QuarantineCursor{At: c.CreatedAt, Partition: part, Offset: off}, true
}

// listQuarantine lists quarantined records, newest first (admin).
func (s *Server) listQuarantine(w http.ResponseWriter, r *http.Request) {
	limit, p := pageLimit(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	q := r.URL.Query()
	f := schema.QuarantineFilter{Stage: q.Get("stage"), Limit: limit + 1}
	if !plainText(f.Stage, 255) {
		writeProblem(w, queryProblem("stage", "must be a consumer group name"))
		return
	}
	if c := q.Get("cursor"); c != "" {
		cur, ok := parseQuarantineCursor(c)
		if !ok {
			writeProblem(w, queryProblem("cursor", "is not a cursor this API returned"))
			return
		}
		f.Before = &cur
	}
	recs, err := s.Quarantine.Quarantined(r.Context(), f)
	if err != nil {
		s.internal(w, r, "list quarantine", err)
		return
	}
	writeJSON(w, http.StatusOK, page(recs, limit, func(q schema.Quarantined) string {
		return formatQuarantineCursor(schema.QuarantineCursor{At: q.At, Partition: q.Partition, Offset: q.Offset})
	}, func(q schema.Quarantined) quarantinedJSON { return toQuarantinedJSON(q, listValueBytes) }))
}

// getQuarantined returns one quarantined record, key and value whole.
func (s *Server) getQuarantined(w http.ResponseWriter, r *http.Request) {
	part, off, ok := parseQuarantineID(r.PathValue("id"))
	if !ok {
		writeProblem(w, problem(http.StatusNotFound, "no such quarantined record"))
		return
	}
	q, err := s.Quarantine.QuarantinedRecord(r.Context(), part, off)
	if errors.Is(err, schema.ErrNotFound) {
		writeProblem(w, problem(http.StatusNotFound, "no such quarantined record"))
		return
	}
	if err != nil {
		s.internal(w, r, "get quarantined record", err)
		return
	}
	writeJSON(w, http.StatusOK, toQuarantinedJSON(q, 0))
}

// redriveQuarantined puts a quarantined record back where it came from,
// once (admin). Fix the cause first: a record that still fails comes back.
func (s *Server) redriveQuarantined(w http.ResponseWriter, r *http.Request) {
	part, off, ok := parseQuarantineID(r.PathValue("id"))
	if !ok {
		writeProblem(w, problem(http.StatusNotFound, "no such quarantined record"))
		return
	}
	q, err := s.Quarantine.Redrive(r.Context(), part, off, s.Redriver.Redrive)
	switch {
	case errors.Is(err, schema.ErrNotFound):
		writeProblem(w, problem(http.StatusNotFound, "no such quarantined record"))
	case errors.Is(err, schema.ErrRedriven):
		writeProblem(w, problem(http.StatusConflict, "the record was re-driven already, at "+q.RedrivenAt.UTC().Format(time.RFC3339)))
	case errors.Is(err, schema.ErrNotRedrivable):
		writeProblem(w, problem(http.StatusUnprocessableEntity, "the record came from "+strconv.Quote(q.Topic)+", which no stage of this deployment reads"))
	case err != nil:
		s.Log.Error("redrive failed", "id", quarantineID(part, off), "err", err)
		w.Header().Set("Retry-After", "1")
		writeProblem(w, problem(http.StatusServiceUnavailable, "the record could not be put back; try again"))
	default:
		writeJSON(w, http.StatusOK, toQuarantinedJSON(q, listValueBytes))
	}
}
