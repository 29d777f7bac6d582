-- Recovery jobs count the deliveries they leave to their retry schedule
-- (their next attempt was pending) apart from those they sent or could not.
ALTER TABLE jobs ADD COLUMN skipped integer NOT NULL DEFAULT 0;
