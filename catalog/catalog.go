package catalog

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream/schema"
)

// Loader reads every event type of every tenant, shared ones too.
type Loader interface {
	AllEventTypes(ctx context.Context) ([]schema.EventType, error)
}

// Listener calls changed whenever an event type changes anywhere, until
// ctx ends (postgres.DB.ListenEventTypes).
type Listener func(ctx context.Context, changed func(id string), onErr func(error))

// Catalog holds every event type, compiled, for the checks of events: the
// API's on POST /v1/events and the dispatcher's. Lookups read an immutable
// snapshot (no lock); a change replaces it.
type Catalog struct {
	// ValidateAll checks every event whose type has a schema; otherwise
	// only the types that ask for it (EventType.Validate) are checked.
	ValidateAll bool

	loader Loader
	log    *slog.Logger
	mu     sync.Mutex // serialises changes of snap
	snap   atomic.Pointer[snapshot]
}

// snapshot maps a tenant (schema.SharedTenant for shared types) to its
// types by name.
type snapshot map[string]map[string]*Type

// New returns an empty catalog that loads from l.
func New(l Loader, log *slog.Logger) *Catalog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{loader: l, log: log}
	c.snap.Store(&snapshot{})
	return c
}

// Lookup returns the type a tenant's events of that name have: the
// tenant's own, else the shared one; nil when there is none.
func (c *Catalog) Lookup(tenant, name string) *Type {
	s := *c.snap.Load()
	if t := s[tenant][name]; t != nil {
		return t
	}
	return s[schema.SharedTenant][name]
}

// Check validates an event's data against its type's schema when its type
// is to be checked: nil, or a *schema.SchemaError.
func (c *Catalog) Check(ev *schema.Event) error {
	if c == nil {
		return nil
	}
	t := c.Lookup(ev.Tenant, ev.Type)
	if t == nil || t.compiled == nil || !(c.ValidateAll || t.Validate) {
		return nil
	}
	return t.Check(ev.Data)
}

// Put adds or replaces a compiled type (as the API does after saving it,
// before any notification arrives).
func (c *Catalog) Put(t *Type) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.snap.Load()
	next := maps.Clone(old)
	m := maps.Clone(old[t.Tenant])
	if m == nil {
		m = map[string]*Type{}
	}
	m[t.Name] = t
	next[t.Tenant] = m
	c.snap.Store(&next)
}

// Remove drops a type.
func (c *Catalog) Remove(tenant, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.snap.Load()
	if old[tenant][name] == nil {
		return
	}
	next := maps.Clone(old)
	m := maps.Clone(old[tenant])
	delete(m, name)
	next[tenant] = m
	c.snap.Store(&next)
}

// ReloadAll reads every type again. A type whose schema has not changed
// keeps its compiled form; one that no longer compiles (saved by an older
// version with other rules) is kept without a schema and logged.
func (c *Catalog) ReloadAll(ctx context.Context) error {
	ts, err := c.loader.AllEventTypes(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.snap.Load()
	next := snapshot{}
	for _, et := range ts {
		m := next[et.Tenant]
		if m == nil {
			m = map[string]*Type{}
			next[et.Tenant] = m
		}
		if o := old[et.Tenant][et.Name]; o != nil && o.UpdatedAt.Equal(et.UpdatedAt) && string(o.Schema) == string(et.Schema) {
			m[et.Name] = o
			continue
		}
		t, err := Compile(schema.EventType{Tenant: et.Tenant, Name: et.Name, Schema: et.Schema})
		if err != nil {
			c.log.Warn("event type's schema does not compile: not checked", "tenant", et.Tenant, "type", et.Name, "err", err)
			t = &Type{}
		}
		t.EventType = et
		m[et.Name] = t
	}
	c.snap.Store(&next)
	return nil
}

// Run keeps the catalog fresh: it reloads on every change listen reports
// and every interval, until ctx ends.
func (c *Catalog) Run(ctx context.Context, listen Listener, every time.Duration) {
	changes := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		listen(ctx, func(string) {
			select {
			case changes <- struct{}{}:
			default: // a reload is due already
			}
		}, func(err error) {
			c.log.Warn("event-type change feed interrupted", "err", err)
		})
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		case <-changes:
		}
		if err := c.ReloadAll(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("event-type reload failed", "err", err)
		}
	}
}
