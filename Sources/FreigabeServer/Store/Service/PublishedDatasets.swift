import Foundation
import Logging
import PostgresNIO

extension RequestService {
    /// At most this many datasets in the Open Data catalogue (one document, no paging yet).
    static let publishedDatasetsLimit = 5000

    /// Datasets released as Open Data: requests that reached a `published` end (Open Data cannot be
    /// revoked, so the phase is final), with the publication decision (the last approval that names a
    /// portal URL). A dataset published twice is listed once, with its latest publication, issued when it
    /// was first published.
    public func publishedDatasets(logger: Logger) async throws(ServiceError) -> [PublishedDataset] {
        try await guarded(logger) { logger in
            try await Database.read(self.client, logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT DISTINCT ON (d.id) d.id, d.title, d.description, m.title, coalesce(p.licence, r.licence),
                        p.portal_url, min(p.decided_at) OVER (PARTITION BY d.id), p.decided_at, r.format, d.high_value
                    FROM requests r
                    JOIN datasets d ON d.id = r.dataset_id
                    JOIN domains m ON m.id = d.domain_id
                    JOIN LATERAL (
                        SELECT id, licence, portal_url, decided_at FROM decisions
                        WHERE request_id = r.id AND outcome = 'approved' AND portal_url IS NOT NULL
                        ORDER BY position DESC LIMIT 1
                    ) p ON true
                    WHERE r.phase = 'published'
                    ORDER BY d.id, p.decided_at DESC, p.id DESC
                    LIMIT \(Self.publishedDatasetsLimit)
                    """, logger: logger)
                var datasets: [PublishedDataset] = []
                for try await (id, title, description, office, licence, portalURL, issued, modified, format, highValue)
                    in rows.decode((String, String, String, String, String?, String, Date, Date, String?, Bool).self)
                {
                    datasets.append(
                        PublishedDataset(
                            id: id, title: title, description: description, office: office, licence: licence,
                            portalURL: portalURL, issued: issued, modified: modified, format: format,
                            highValue: highValue))
                }
                if datasets.count == Self.publishedDatasetsLimit {
                    // Harvesters would never see the rest, and nobody would know: say so where operators look.
                    logger.warning(
                        "the Open Data catalogue lists only its first datasets (no paging yet)",
                        metadata: ["dcat.limit": "\(Self.publishedDatasetsLimit)"])
                }
                return datasets
            }
        }
    }
}
