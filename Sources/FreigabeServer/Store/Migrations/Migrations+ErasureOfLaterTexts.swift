extension Migrations {
    /// Two gaps in what `audit redact` takes of a request that waits for its requester or was closed:
    ///
    /// - **Texts written after an erasure were kept for good.** An erased request can still move: the
    ///   escalation instance closes an abandoned question with a reason, a requester edits an erased draft
    ///   or withdraws it with a comment. Every later run skipped the request (`redaction_id IS NULL`), so
    ///   that reason, its copies in the snapshot and the notifications about it stayed forever. A request
    ///   changed since the cut-off of the erasure that marked it (`updated_at` is older than that cut-off
    ///   when it is erased, and an erasure never touches it) is now erased again once the change itself lies
    ///   before the new cut-off, and marked with the new erasure.
    /// - **Other people's events counted as the request's activity.** A colleague's refused read
    ///   (`read_denied`), a refused command (`forbidden`) or an administrator's resend of a mail
    ///   (`outbox_retried`) kept an abandoned draft's or question's texts for another retention period.
    ///   Activity is now what the request's own history records: it was filed (`created`) and the engine's
    ///   events by a person (the system's, such as a question's escalation, were left out by migration 26).
    ///
    /// Migration 17's function with those two clauses changed; its owner, grants and everything else stay.
    /// Drafts whose purpose was stated anew before this release lose the mark, as such a draft does from now
    /// on (``RequestService`` clears it when the purpose is no longer the erasure's dash).
    /// The triggers of migration 10 let the updates through already (`decisions` by the request's new
    /// `redaction_id`, which belongs to the erasing transaction).
    static let erasureOfLaterTexts = Migration(
        version: 27, name: "erasure_of_later_texts",
        sql: #"""
            DO $migration$
            DECLARE
                definition text := pg_get_functiondef(
                    'audit_redact(timestamptz, text, text, integer, bigint[], bytea)'::regprocedure);
                marked text := replace(definition,
                    $clause$WHERE q.redaction_id IS NULL AND q.updated_at < audit_redact.erased_before$clause$,
                    $clause$WHERE (q.redaction_id IS NULL OR q.updated_at >= (
                        SELECT p.erased_before FROM audit_redactions p WHERE p.id = q.redaction_id))
                  AND q.updated_at < audit_redact.erased_before$clause$);
                changed text := replace(marked,
                    $clause$WHERE e.request_id = q.id AND e.event <> 'audit_read' AND e.actor IS NOT NULL$clause$,
                    $clause$WHERE e.request_id = q.id AND e.actor IS NOT NULL
                                 AND e.event = ANY(ARRAY[
                                     'created', 'submitted', 'approved', 'rejected', 'resubmitted', 'withdrawn',
                                     'escalated', 'reminded', 'expired', 'revoked', 'discontinued',
                                     'changes_requested', 'expiry_announced', 'step_skipped', 'step_completed',
                                     'ended', 'question_unanswered'])$clause$);
            BEGIN
                IF marked = definition OR changed = marked THEN
                    RAISE EXCEPTION 'audit_redact: a clause of migrations 17 and 26 was not found';
                END IF;
                EXECUTE changed;
            END
            $migration$;
            -- Drafts whose purpose was stated anew before this release still carry the mark (it was cleared
            -- only on sending on): their page would show the erasure notice beside the new purpose.
            UPDATE requests SET redaction_id = NULL WHERE redaction_id IS NOT NULL AND phase = 'draft' AND purpose <> '-';
            COMMENT ON COLUMN requests.redaction_id IS 'The latest erasure (audit_redact) of this request''s free texts, closed or abandoned (a draft or an unanswered question with no activity of its own since) before the cut-off: purpose is then a dash, legal basis, anonymisation statement, the release check''s notes, the decisions'' comments and an open question are gone. A request changed after that erasure''s cut-off is erased again by a later one.';
            """#)
}
