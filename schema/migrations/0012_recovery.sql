-- Receiver pauses and automatic recovery (issue 16 §2-3).

-- A pause: paused_at is set while the receiver asked for one, paused_until
-- is when it ends by itself (NULL: until POST …/resume). Deliveries park
-- without spending attempts while now() < paused_until (or it is NULL).
ALTER TABLE endpoints ADD COLUMN paused_at timestamptz;
ALTER TABLE endpoints ADD COLUMN paused_until timestamptz;

-- Why a disabled endpoint is disabled: 'failures' (the rule), 'gone' (it
-- answered 410 Gone) or 'manual' (a person). Only 'failures' is probed.
ALTER TABLE endpoints ADD COLUMN disabled_cause text
    CHECK (disabled_cause IN ('failures', 'gone', 'manual'));
UPDATE endpoints SET disabled_cause = CASE
        WHEN disabled_reason = 'endpoint answered 410 Gone' THEN 'gone'
        WHEN disabled_reason LIKE '% consecutive failed attempts since %' THEN 'failures'
        ELSE 'manual' END
    WHERE state = 'disabled';

-- Automatic recovery: auto_recover is the endpoint's opt-in (default on);
-- probe_at is when the next probe of an endpoint disabled by failures is
-- due (it doubles as the lease of the instance that sends one), probes
-- how many were sent since it was disabled. None of these bump updated_at:
-- probes change nothing the deliverers read.
ALTER TABLE endpoints ADD COLUMN auto_recover boolean NOT NULL DEFAULT true;
ALTER TABLE endpoints ADD COLUMN probe_at timestamptz;
ALTER TABLE endpoints ADD COLUMN probes integer NOT NULL DEFAULT 0;
UPDATE endpoints SET probe_at = now() WHERE disabled_cause = 'failures';
CREATE INDEX endpoints_probe_idx ON endpoints (probe_at) WHERE state = 'disabled' AND disabled_cause = 'failures';
CREATE INDEX endpoints_paused_idx ON endpoints (paused_until) WHERE paused_at IS NOT NULL;
