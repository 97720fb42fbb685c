import WorkflowEngine

/// The licences Open Data is published under, as DCAT-AP.de names them: `dcterms:license` must be a
/// URI of the DCAT-AP.de licence vocabulary (`http://dcat-ap.de/def/licenses/`). A publication decision
/// records the licence by its ``OpenLicence`` identifier; one an earlier release recorded as typed ("CC BY
/// 4.0", "Datenlizenz Deutschland – Zero – Version 2.0", …) is read by ``OpenLicence/init(named:)``.
enum DCATLicence: String, Sendable, Hashable, CaseIterable {
    case dataLicenceGermanyAttribution = "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
    case dataLicenceGermanyZero = "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"
    case creativeCommonsAttribution = "http://dcat-ap.de/def/licenses/cc-by/4.0"
    case creativeCommonsZero = "http://dcat-ap.de/def/licenses/cc-zero"

    var uri: String { rawValue }

    /// The licence a recorded text names (``OpenLicence/init(named:)``); nil when it names none of the
    /// four (the catalogue then states no licence rather than a wrong one).
    init?(recorded text: String) {
        switch OpenLicence(named: text) {
        case .dlDeBy: self = .dataLicenceGermanyAttribution
        case .dlDeZero: self = .dataLicenceGermanyZero
        case .ccBy: self = .creativeCommonsAttribution
        case .cc0: self = .creativeCommonsZero
        case nil: return nil
        }
    }
}
