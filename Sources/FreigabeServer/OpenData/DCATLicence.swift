/// The licences Open Data is published under, as DCAT-AP.de names them: `dcterms:license` must be a
/// URI of the DCAT-AP.de licence vocabulary (`http://dcat-ap.de/def/licenses/`), while the publication
/// decision records the licence as the officer typed it ("dl-de-by-2.0", "CC BY 4.0",
/// "Datenlizenz Deutschland – Zero – Version 2.0", …).
enum DCATLicence: String, Sendable, Hashable, CaseIterable {
    case dataLicenceGermanyAttribution = "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
    case dataLicenceGermanyZero = "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"
    case creativeCommonsAttribution = "http://dcat-ap.de/def/licenses/cc-by/4.0"
    case creativeCommonsZero = "http://dcat-ap.de/def/licenses/cc-zero"

    var uri: String { rawValue }

    /// The licence a recorded text names; nil when it names none of the four (the catalogue then
    /// states no licence rather than a wrong one).
    init?(recorded text: String) {
        // Letters and digits only, lower case: "DL-DE/BY-2-0", "dl-de-by-2.0" and "dl by de 2.0" are
        // one key; so are the vocabulary URIs themselves.
        let key = String(
            text.lowercased().replacingOccurrences(of: "http://dcat-ap.de/def/licenses/", with: "")
                .unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains(Character($0)) }
                .map(Character.init))
        switch key {
        case "dldeby20", "dlbyde20", "dldeby2", "datenlizenzdeutschlandnamensnennung20",
            "datenlizenzdeutschlandnamensnennungversion20":
            self = .dataLicenceGermanyAttribution
        case "dldezero20", "dlzerode20", "dldezero2", "datenlizenzdeutschlandzero20",
            "datenlizenzdeutschlandzeroversion20":
            self = .dataLicenceGermanyZero
        case "ccby40", "ccby4", "creativecommonsnamensnennung40", "creativecommonsattribution40",
            "creativecommonsnamensnennung40international", "creativecommonsattribution40international":
            self = .creativeCommonsAttribution
        case "cc0", "cc010", "cczero", "ccbyzero", "creativecommonszero", "creativecommonscczero",
            "creativecommonscc0":
            self = .creativeCommonsZero
        default:
            return nil
        }
    }
}
