/// One of the sixteen German states (Länder). Public holidays are state law, so every working-day
/// calculation needs one.
///
/// The raw values are the subdivision part of the ISO 3166-2:DE codes ("BY" for "DE-BY"), which is what
/// configuration files and the database store.
public enum GermanState: String, CaseIterable, Sendable, Codable {
    case badenWuerttemberg = "BW"
    case bayern = "BY"
    case berlin = "BE"
    case brandenburg = "BB"
    case bremen = "HB"
    case hamburg = "HH"
    case hessen = "HE"
    case mecklenburgVorpommern = "MV"
    case niedersachsen = "NI"
    case nordrheinWestfalen = "NW"
    case rheinlandPfalz = "RP"
    case saarland = "SL"
    case sachsen = "SN"
    case sachsenAnhalt = "ST"
    case schleswigHolstein = "SH"
    case thueringen = "TH"

    /// The official German name, for pages and emails.
    public var germanName: String {
        switch self {
        case .badenWuerttemberg: "Baden-Württemberg"
        case .bayern: "Bayern"
        case .berlin: "Berlin"
        case .brandenburg: "Brandenburg"
        case .bremen: "Bremen"
        case .hamburg: "Hamburg"
        case .hessen: "Hessen"
        case .mecklenburgVorpommern: "Mecklenburg-Vorpommern"
        case .niedersachsen: "Niedersachsen"
        case .nordrheinWestfalen: "Nordrhein-Westfalen"
        case .rheinlandPfalz: "Rheinland-Pfalz"
        case .saarland: "Saarland"
        case .sachsen: "Sachsen"
        case .sachsenAnhalt: "Sachsen-Anhalt"
        case .schleswigHolstein: "Schleswig-Holstein"
        case .thueringen: "Thüringen"
        }
    }
}
