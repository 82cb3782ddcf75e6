//! Deterministic demo data: a small digital agency's CRM. Same on every start:
//! no randomness, no wall clock; every timestamp lies in 2026-01..2026-10.

#![allow(clippy::type_complexity)]

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::{Value, json};

use super::store::*;

/// 2026-01-05T09:00:00Z
const EPOCH: i64 = 1_767_603_600;

/// A fixed timestamp `days` days and `mins` minutes after 2026-01-05T09:00:00Z.
pub(crate) fn ts(days: i64, mins: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(EPOCH + days * 86_400 + mins * 60, 0).unwrap_or_default()
}

fn date(days: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5)
        .unwrap_or_default()
        .checked_add_days(Days::new(days))
        .unwrap_or_default()
}

pub(crate) const ADMIN_USER: i64 = 61;
pub(crate) const STANDARD_USER: i64 = 6;
pub(crate) const THIRD_USER: i64 = 12;

const ORGS: [(&str, &str, &str); 20] = [
    ("Brightside Digital", "brightside.example", "Technology"),
    (
        "Acme Logistics",
        "acme-logistics.example",
        "Retail & consumer",
    ),
    (
        "Homestyle Shop",
        "homestyleshop.example",
        "Retail & consumer",
    ),
    ("Zestia", "zestia.example", "Technology"),
    (
        "Northwind Traders",
        "northwind.example",
        "Retail & consumer",
    ),
    ("Globex Insurance", "globex.example", "Insurance"),
    ("Initech", "initech.example", "Technology"),
    (
        "Umbrella Health",
        "umbrella-health.example",
        "Financial services",
    ),
    ("Stark Analytics", "stark-analytics.example", "Technology"),
    (
        "Wayne Foundation",
        "wayne-foundation.example",
        "Financial services",
    ),
    ("Prague Bikes", "praguebikes.example", "Retail & consumer"),
    (
        "Dublin Roasters",
        "dublinroasters.example",
        "Retail & consumer",
    ),
    ("Berlin Print Works", "berlinprint.example", "Technology"),
    (
        "Lyon Patisserie",
        "lyonpatisserie.example",
        "Retail & consumer",
    ),
    ("Madrid Motors", "madridmotors.example", "Retail & consumer"),
    (
        "Dutch Flower Co",
        "dutchflower.example",
        "Retail & consumer",
    ),
    (
        "Evergreen Bank",
        "evergreenbank.example",
        "Financial services",
    ),
    ("Summit Assurance", "summitassurance.example", "Insurance"),
    ("Pixel Forge", "pixelforge.example", ""),
    (
        "Quantum Ledger",
        "quantumledger.example",
        "Financial services",
    ),
];

const FIRST: [&str; 60] = [
    "Ted", "Scott", "Maia", "Alice", "Bob", "Carla", "David", "Erin", "Farid", "Grace", "Hugo",
    "Ines", "Jakub", "Karen", "Liam", "Mona", "Niall", "Olga", "Pavel", "Quinn", "Rosa", "Sven",
    "Tara", "Umar", "Vera", "Will", "Xena", "Yusuf", "Zoe", "Adam", "Bea", "Colm", "Dora", "Emil",
    "Fern", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Marco", "Nina", "Otto", "Pia", "Raj",
    "Sara", "Tomas", "Uma", "Viktor", "Wendy", "Xavier", "Yara", "Zack", "Amelie", "Bruno",
    "Chloe", "Dario", "Elif", "Felix",
];

const LAST: [&str; 60] = [
    "Danson", "Spacey", "Hilton", "Moreau", "Novak", "Schmidt", "O'Brien", "Garcia", "Khan",
    "Murphy", "Dubois", "Lopez", "Dvorak", "Walsh", "Byrne", "Fischer", "Kelly", "Petrova",
    "Svoboda", "Jones", "Martin", "Larsen", "Reilly", "Malik", "Costa", "Turner", "Ward", "Yilmaz",
    "Evans", "Smith", "Brown", "Doyle", "Meyer", "Richter", "Green", "Hall", "Kral", "Ivanov",
    "Lee", "Mensah", "Vogel", "Rossi", "Bauer", "Weber", "Blanc", "Patel", "Ortiz", "Horak",
    "Nair", "Sokol", "Price", "Ruiz", "Haddad", "Quinn", "Roux", "Silva", "Wright", "Conti",
    "Aydin", "Wagner",
];

const JOBS: [&str; 8] = [
    "CEO",
    "Marketing Manager",
    "Head of Operations",
    "Creative Director",
    "CTO",
    "Procurement Lead",
    "Office Manager",
    "Product Owner",
];

const CITIES: [(&str, &str, &str, &str); 10] = [
    ("Chicago", "IL", "United States", "60611"),
    ("London", "", "United Kingdom", "EC1A 1BB"),
    ("Berlin", "", "Germany", "10115"),
    ("Prague", "", "Czechia", "110 00"),
    ("Lyon", "", "France", "69001"),
    ("Dublin", "", "Ireland", "D02 X285"),
    ("Madrid", "", "Spain", "28001"),
    ("Amsterdam", "", "Netherlands", "1012 AB"),
    ("Austin", "TX", "United States", "73301"),
    ("Manchester", "", "United Kingdom", "M1 1AE"),
];

/// Currencies: ISO 4217 code, symbol, English name.
pub(crate) const CURRENCIES: [(&str, &str, &str); 10] = [
    ("GBP", "£", "British Pound"),
    ("USD", "$", "US Dollar"),
    ("EUR", "€", "Euro"),
    ("CZK", "Kč", "Czech Koruna"),
    ("CHF", "CHF", "Swiss Franc"),
    ("JPY", "¥", "Japanese Yen"),
    ("CAD", "CA$", "Canadian Dollar"),
    ("AUD", "A$", "Australian Dollar"),
    ("SEK", "kr", "Swedish Krona"),
    ("PLN", "zł", "Polish Zloty"),
];

pub(crate) fn countries() -> Vec<Country> {
    let c = |name, alpha2, alpha3, numeric| Country {
        name,
        alpha2,
        alpha3,
        numeric,
    };
    vec![
        c("Australia", "AU", "AUS", "036"),
        c("Austria", "AT", "AUT", "040"),
        c("Belgium", "BE", "BEL", "056"),
        c("Canada", "CA", "CAN", "124"),
        c("Czechia", "CZ", "CZE", "203"),
        c("Denmark", "DK", "DNK", "208"),
        c("France", "FR", "FRA", "250"),
        c("Germany", "DE", "DEU", "276"),
        c("Ireland", "IE", "IRL", "372"),
        c("Italy", "IT", "ITA", "380"),
        c("Japan", "JP", "JPN", "392"),
        c("Netherlands", "NL", "NLD", "528"),
        c("New Zealand", "NZ", "NZL", "554"),
        c("Poland", "PL", "POL", "616"),
        c("Portugal", "PT", "PRT", "620"),
        c("Slovakia", "SK", "SVK", "703"),
        c("Spain", "ES", "ESP", "724"),
        c("Sweden", "SE", "SWE", "752"),
        c("Switzerland", "CH", "CHE", "756"),
        c("United Kingdom", "GB", "GBR", "826"),
        c("United States", "US", "USA", "840"),
    ]
}

/// Builds the seeded store.
pub(crate) fn seed() -> Store {
    let mut s = Store {
        countries: countries(),
        currencies: CURRENCIES.iter().map(|(code, _, _)| *code).collect(),
        ..Store::default()
    };
    s.set_counter("row", 5000);

    // ---- users and teams --------------------------------------------------
    let users = [
        (
            ADMIN_USER,
            "ted",
            "Ted Danson",
            true,
            120,
            "en_US",
            "USD",
            "America/Chicago",
        ),
        (
            STANDARD_USER,
            "scottspacey",
            "Scott Spacey",
            false,
            121,
            "en_GB",
            "GBP",
            "Europe/London",
        ),
        (
            THIRD_USER,
            "maiahilton",
            "Maia Hilton",
            false,
            122,
            "en_GB",
            "EUR",
            "Europe/Dublin",
        ),
    ];
    for (i, (id, username, name, admin, party, locale, currency, tz)) in
        users.into_iter().enumerate()
    {
        s.users.insert(
            id,
            User {
                id,
                username: username.into(),
                name: name.into(),
                admin,
                account_owner: id == ADMIN_USER,
                party: Some(party),
                locale: locale.into(),
                currency: currency.into(),
                timezone: tz.into(),
                last_login_at: ts(280 + i as i64, 30),
                task_reminder: i != 2,
            },
        );
    }
    s.teams.insert(
        5,
        Team {
            id: 5,
            name: "Sales".into(),
            members: vec![ADMIN_USER, STANDARD_USER],
            created_at: ts(0, 0),
            updated_at: ts(0, 0),
        },
    );
    s.teams.insert(
        9,
        Team {
            id: 9,
            name: "Delivery".into(),
            members: vec![THIRD_USER, ADMIN_USER],
            created_at: ts(0, 5),
            updated_at: ts(10, 0),
        },
    );

    // ---- reference data ---------------------------------------------------
    for (id, title) in [
        (1, "Mr"),
        (2, "Mrs"),
        (3, "Ms"),
        (4, "Dr"),
        (5, "Master"),
        (6, "Miss"),
    ] {
        s.titles.insert(
            id,
            Title {
                id,
                title: title.into(),
            },
        );
    }
    for (id, name, colour) in [
        (47, "Billing", "#d36c00"),
        (48, "Call", "#2a7ab0"),
        (49, "Email", "#5a9e3a"),
        (50, "Follow-up", "#8e44ad"),
    ] {
        s.categories.insert(
            id,
            Category {
                id,
                name: name.into(),
                colour: colour.into(),
            },
        );
    }
    let at = |id, name: &str, ulc, icon: &str, order, system| ActivityType {
        id,
        name: name.into(),
        update_last_contacted: ulc,
        icon: icon.into(),
        order,
        system,
    };
    s.activity_types = vec![
        // Capsule's Activity Type docs list Note with updateLastContacted true.
        at(-1, "Note", true, "note", 1, true),
        at(-2, "Meeting", true, "meeting", 2, true),
        at(-3, "Call", true, "phone", 3, true),
        at(-4, "Task completed", false, "task", 4, true),
        at(101, "Demo", true, "presentation", 5, false),
        at(102, "Site visit", true, "car", 6, false),
    ];
    for (id, name, conv) in [
        (3, "Too expensive", true),
        (4, "Went with a competitor", true),
        (5, "No decision made", false),
    ] {
        s.lost_reasons.insert(
            id,
            LostReason {
                id,
                name: name.into(),
                included_for_conversion: conv,
                created_at: ts(0, 20),
                updated_at: ts(0, 20),
            },
        );
    }
    s.pipelines.insert(
        10,
        Pipeline {
            id: 10,
            name: "SMB clients".into(),
            description: Some("Small and medium business deals".into()),
            created_at: ts(0, 10),
            updated_at: ts(0, 10),
        },
    );
    s.pipelines.insert(
        11,
        Pipeline {
            id: 11,
            name: "Enterprise".into(),
            description: Some("Large accounts with procurement".into()),
            created_at: ts(0, 11),
            updated_at: ts(0, 11),
        },
    );
    let milestones: [(i64, &str, Option<&str>, bool, i64, Option<i64>, i64); 9] = [
        (
            1,
            "New",
            Some("The potential buyer has shared a goal or a problem with you"),
            false,
            10,
            Some(10),
            10,
        ),
        (
            2,
            "Bid",
            Some("A proposal has been sent"),
            false,
            50,
            Some(12),
            10,
        ),
        (3, "Won", None, true, 100, None, 10),
        (4, "Lost", None, true, 0, None, 10),
        (
            5,
            "Qualification",
            Some("Budget, authority, need and timing confirmed"),
            false,
            10,
            Some(20),
            11,
        ),
        (
            6,
            "Proposal",
            Some("Formal proposal submitted"),
            false,
            40,
            Some(20),
            11,
        ),
        (
            7,
            "Negotiation",
            Some("Commercial terms under discussion"),
            false,
            70,
            Some(15),
            11,
        ),
        (8, "Won", None, true, 100, None, 11),
        (9, "Lost", None, true, 0, None, 11),
    ];
    for (id, name, desc, complete, prob, stale, pipeline) in milestones {
        s.milestones.insert(
            id,
            Milestone {
                id,
                name: name.into(),
                description: desc.map(str::to_string),
                complete,
                probability: prob,
                days_until_stale: stale,
                pipeline,
                created_at: ts(0, 12),
                updated_at: ts(0, 12),
            },
        );
    }
    s.boards.insert(
        7,
        Board {
            id: 7,
            name: "Client projects".into(),
            description: Some("Website and campaign delivery".into()),
            team: None,
            created_at: ts(0, 30),
            updated_at: ts(0, 30),
        },
    );
    s.boards.insert(
        8,
        Board {
            id: 8,
            name: "Support".into(),
            description: Some("Retainer support requests".into()),
            team: Some(9),
            created_at: ts(0, 31),
            updated_at: ts(0, 31),
        },
    );
    for (id, name, order, board) in [
        (71, "Project Brief", 1, 7),
        (72, "Planning", 2, 7),
        (73, "In Progress", 3, 7),
        (74, "Review", 4, 7),
        (81, "Triage", 1, 8),
        (82, "Resolving", 2, 8),
        (83, "Done", 3, 8),
    ] {
        s.stages.insert(
            id,
            Stage {
                id,
                name: name.into(),
                description: None,
                display_order: order,
                board,
                created_at: ts(0, 32),
                updated_at: ts(0, 32),
            },
        );
    }

    // ---- tags and custom field definitions --------------------------------
    let tags: [(i64, Entity, &str, Option<&str>, bool); 10] = [
        (
            1,
            Entity::Parties,
            "Customer",
            Some("Paying customers"),
            false,
        ),
        (2, Entity::Parties, "Prospect", None, false),
        (3, Entity::Parties, "VIP", Some("Key accounts"), false),
        (4, Entity::Parties, "Supplier", None, false),
        (
            5,
            Entity::Parties,
            "Lead",
            Some("Scored inbound leads"),
            true,
        ),
        (11, Entity::Opportunities, "Upsell", None, false),
        (12, Entity::Opportunities, "Renewal", None, false),
        (13, Entity::Opportunities, "Referral", None, false),
        (21, Entity::Kases, "Urgent", None, false),
        (22, Entity::Kases, "Retainer", None, false),
    ];
    for (id, entity, name, desc, data_tag) in tags {
        s.tags.insert(
            id,
            Tag {
                id,
                entity,
                name: name.into(),
                description: desc.map(str::to_string),
                data_tag,
            },
        );
    }
    let sectors: Vec<String> = [
        "Technology",
        "Insurance",
        "Financial services",
        "Retail & consumer",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let defs: Vec<(
        i64,
        Entity,
        &str,
        &str,
        Option<&str>,
        bool,
        Option<&str>,
        Vec<String>,
        Option<i64>,
    )> = vec![
        (
            45,
            Entity::Parties,
            "Referring Site",
            "text",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            46,
            Entity::Parties,
            "Date of Birth",
            "date",
            Some("Birthday Field"),
            false,
            Some("person"),
            vec![],
            None,
        ),
        (
            47,
            Entity::Parties,
            "Industry Sector",
            "list",
            None,
            true,
            Some("organisation"),
            sectors,
            None,
        ),
        (
            48,
            Entity::Parties,
            "Local",
            "boolean",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            49,
            Entity::Parties,
            "Employees",
            "number",
            None,
            false,
            Some("organisation"),
            vec![],
            None,
        ),
        (
            50,
            Entity::Parties,
            "Background",
            "large_text",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            51,
            Entity::Parties,
            "Lead Score",
            "number",
            None,
            false,
            None,
            vec![],
            Some(5),
        ),
        (
            52,
            Entity::Parties,
            "Portfolio",
            "link",
            None,
            false,
            Some("person"),
            vec![],
            None,
        ),
        (
            60,
            Entity::Opportunities,
            "Deal Source",
            "list",
            None,
            false,
            None,
            ["Referral", "Website", "Event", "Outbound"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            None,
        ),
        (
            61,
            Entity::Opportunities,
            "Contract Months",
            "number",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            62,
            Entity::Opportunities,
            "Signed NDA",
            "boolean",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            63,
            Entity::Opportunities,
            "Renewal Date",
            "date",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            64,
            Entity::Opportunities,
            "Proposal Link",
            "link",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            65,
            Entity::Opportunities,
            "Notes",
            "large_text",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            70,
            Entity::Kases,
            "Budget Code",
            "text",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            71,
            Entity::Kases,
            "Hours Estimate",
            "number",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            72,
            Entity::Kases,
            "Go-live Date",
            "date",
            None,
            false,
            None,
            vec![],
            None,
        ),
        (
            73,
            Entity::Kases,
            "Priority",
            "list",
            None,
            true,
            None,
            ["Low", "Medium", "High"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            None,
        ),
        (
            74,
            Entity::Kases,
            "Client Approved",
            "boolean",
            None,
            false,
            None,
            vec![],
            None,
        ),
    ];
    for (order, (id, entity, name, kind, desc, important, capture, options, tag)) in
        defs.into_iter().enumerate()
    {
        s.definitions.insert(
            id,
            Definition {
                id,
                entity,
                name: name.into(),
                kind: kind.into(),
                description: desc.map(str::to_string),
                important,
                display_order: order as i64 + 1,
                capture_rule: capture.map(str::to_string),
                options,
                tag,
            },
        );
    }

    // ---- organisations: 100..=119 -----------------------------------------
    for (i, (name, domain, sector)) in ORGS.iter().enumerate() {
        let id = 100 + i as i64;
        let i = i as i64;
        let (city, state, country, zip) = CITIES[(i % 10) as usize];
        let mut p = Party {
            id,
            kind: PartyKind::Organisation,
            title: None,
            first_name: None,
            last_name: None,
            job_title: None,
            name: Some((*name).into()),
            about: if i % 3 == 0 {
                Some(format!("{name} is a long-standing client of the agency."))
            } else {
                None
            },
            organisation: None,
            owner: Some(if i % 2 == 0 {
                ADMIN_USER
            } else {
                STANDARD_USER
            }),
            team: if i % 4 == 1 { Some(5) } else { None },
            created_at: ts(i, 60),
            updated_at: ts(i * 12 + 20, 90),
            last_contacted_at: None,
            emails: vec![],
            phones: vec![],
            addresses: vec![],
            websites: vec![],
            tags: vec![],
            fields: vec![],
        };
        let row = s.alloc("row");
        p.emails.push(Email {
            id: row,
            kind: Some("Work".into()),
            address: format!("hello@{domain}"),
        });
        let row = s.alloc("row");
        p.phones.push(Phone {
            id: row,
            kind: Some("Work".into()),
            number: format!("+1 555 01{:02}", i),
        });
        let row = s.alloc("row");
        p.addresses.push(Address {
            id: row,
            kind: Some("Office".into()),
            street: Some(format!("{} Market Street", 10 + i)),
            city: Some(city.into()),
            state: if state.is_empty() {
                None
            } else {
                Some(state.into())
            },
            country: Some(country.into()),
            zip: Some(zip.into()),
        });
        let row = s.alloc("row");
        p.websites.push(Website {
            id: row,
            kind: None,
            service: "URL".into(),
            address: (*domain).into(),
        });
        if i % 2 == 0 {
            let row = s.alloc("row");
            p.websites.push(Website {
                id: row,
                kind: None,
                service: "TWITTER".into(),
                address: domain.split('.').next().unwrap_or(domain).replace('-', ""),
            });
        }
        p.tags = match i % 4 {
            0 => vec![1, 3],
            1 => vec![1],
            2 => vec![2],
            _ => vec![4],
        };
        if !sector.is_empty() {
            let row = s.alloc("row");
            p.fields.push(FieldValue {
                id: row,
                definition: 47,
                value: json!(sector),
            });
        }
        let row = s.alloc("row");
        p.fields.push(FieldValue {
            id: row,
            definition: 49,
            value: json!(((i + 1) * 17).to_string()),
        });
        let row = s.alloc("row");
        p.fields.push(FieldValue {
            id: row,
            definition: 48,
            value: json!(i % 3 != 0),
        });
        s.parties.insert(id, p);
    }

    // ---- people: 120..=179 --------------------------------------------------
    for i in 0..60i64 {
        let id = 120 + i;
        let first = FIRST[i as usize];
        let last = LAST[i as usize];
        let org = if i < 3 {
            Some(100)
        } else if i % 10 == 9 {
            None
        } else {
            Some(101 + (i % 19))
        };
        let domain = org
            .and_then(|o| ORGS.get((o - 100) as usize))
            .map_or("mail.example", |o| o.1);
        let (city, state, country, zip) = CITIES[((i + 3) % 10) as usize];
        let mut p = Party {
            id,
            kind: PartyKind::Person,
            title: match i % 5 {
                0 => Some("Mr".into()),
                1 => Some("Ms".into()),
                2 => Some("Dr".into()),
                3 => Some("Mrs".into()),
                _ => None,
            },
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            job_title: Some(JOBS[(i % 8) as usize].into()),
            name: None,
            about: None,
            organisation: org,
            owner: Some(match i % 3 {
                0 => ADMIN_USER,
                1 => STANDARD_USER,
                _ => THIRD_USER,
            }),
            team: None,
            created_at: ts(20 + i, 15),
            updated_at: ts(25 + i * 4, 45),
            last_contacted_at: None,
            emails: vec![],
            phones: vec![],
            addresses: vec![],
            websites: vec![],
            tags: vec![],
            fields: vec![],
        };
        let local = format!(
            "{}.{}",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', "")
        );
        let row = s.alloc("row");
        p.emails.push(Email {
            id: row,
            kind: Some("Work".into()),
            address: format!("{local}@{domain}"),
        });
        if i % 4 == 0 {
            let row = s.alloc("row");
            p.emails.push(Email {
                id: row,
                kind: Some("Home".into()),
                address: format!("{local}@mail.example"),
            });
        }
        let row = s.alloc("row");
        p.phones.push(Phone {
            id: row,
            kind: Some(if i % 2 == 0 { "Mobile" } else { "Work" }.into()),
            number: format!("+44 7700 900{:03}", i),
        });
        if i % 3 == 0 {
            let row = s.alloc("row");
            p.addresses.push(Address {
                id: row,
                kind: Some("Home".into()),
                street: Some(format!("{} High Street", i + 1)),
                city: Some(city.into()),
                state: if state.is_empty() {
                    None
                } else {
                    Some(state.into())
                },
                country: Some(country.into()),
                zip: Some(zip.into()),
            });
        }
        if i % 5 == 0 {
            let row = s.alloc("row");
            p.websites.push(Website {
                id: row,
                kind: Some("Work".into()),
                service: "LINKED_IN".into(),
                address: format!("https://www.linkedin.com/in/{local}"),
            });
        }
        p.tags = match i % 6 {
            0 => vec![1],
            1 => vec![2, 5],
            2 => vec![],
            3 => vec![3],
            4 => vec![5],
            _ => vec![],
        };
        let row = s.alloc("row");
        p.fields.push(FieldValue {
            id: row,
            definition: 46,
            value: json!(format!(
                "19{}-{:02}-{:02}",
                60 + i % 40,
                1 + i % 12,
                1 + i % 28
            )),
        });
        if p.tags.contains(&5) {
            let row = s.alloc("row");
            p.fields.push(FieldValue {
                id: row,
                definition: 51,
                value: json!((40 + i).to_string()),
            });
        }
        if i % 4 == 2 {
            let row = s.alloc("row");
            p.fields.push(FieldValue {
                id: row,
                definition: 45,
                value: json!(["google.com", "linkedin.com", "capsulecrm.com"][(i % 3) as usize]),
            });
        }
        if i % 7 == 0 {
            let row = s.alloc("row");
            p.fields.push(FieldValue {
                id: row,
                definition: 50,
                value: json!(format!(
                    "Met {first} at a conference.\nInterested in a redesign."
                )),
            });
        }
        s.parties.insert(id, p);
    }

    // ---- opportunities: 300..=329 -----------------------------------------
    let currencies = ["GBP", "USD", "EUR"];
    for i in 0..30i64 {
        let id = 300 + i;
        let enterprise = i % 3 == 0;
        let (open, bid, won, lost) = if enterprise {
            (5, 6, 8, 9)
        } else {
            (1, 2, 3, 4)
        };
        let negotiation = if enterprise { 7 } else { 2 };
        let (milestone, last_open, lost_reason) = match i % 6 {
            0 => (open, open, None),
            1 => (bid, bid, None),
            2 => (negotiation, negotiation, None),
            3 => (won, bid, None),
            4 => (lost, open, Some(3 + i % 3)),
            _ => (bid, bid, None),
        };
        let ms_prob = s.milestones.get(&milestone).map_or(0, |m| m.probability);
        let closed = matches!(i % 6, 3 | 4);
        let party = if i % 2 == 0 { 101 + i % 19 } else { 123 + i };
        let mut fields = vec![];
        let row = s.alloc("row");
        fields.push(FieldValue {
            id: row,
            definition: 60,
            value: json!(["Referral", "Website", "Event", "Outbound"][(i % 4) as usize]),
        });
        let row = s.alloc("row");
        fields.push(FieldValue {
            id: row,
            definition: 61,
            value: json!((6 + (i % 4) * 6).to_string()),
        });
        if i % 2 == 0 {
            let row = s.alloc("row");
            fields.push(FieldValue {
                id: row,
                definition: 62,
                value: json!(i % 4 == 0),
            });
        }
        s.opportunities.insert(
            id,
            Opportunity {
                id,
                name: format!(
                    "{} for {}",
                    [
                        "Website redesign",
                        "SEO retainer",
                        "Brand refresh",
                        "Mobile app",
                        "Analytics setup"
                    ][(i % 5) as usize],
                    s.parties
                        .get(&party)
                        .map(|p| p.display_name())
                        .unwrap_or_default()
                ),
                description: if i % 2 == 1 {
                    Some("Scope and design web site shopping cart".into())
                } else {
                    None
                },
                party,
                milestone,
                last_open_milestone: Some(last_open),
                owner: Some(if i % 2 == 0 {
                    ADMIN_USER
                } else {
                    STANDARD_USER
                }),
                team: if i % 5 == 0 { Some(5) } else { None },
                value: Some((
                    serde_json::Number::from(2_500 + i * 750),
                    currencies[(i % 3) as usize].to_string(),
                )),
                expected_close_on: Some(date(60 + i as u64 * 9)),
                probability: Some(ms_prob),
                duration_basis: Some(if i % 4 == 1 { "MONTH" } else { "FIXED" }.into()),
                duration: if i % 4 == 1 { Some(6) } else { None },
                closed_on: if closed {
                    Some(date(100 + i as u64 * 5))
                } else {
                    None
                },
                lost_reason,
                last_contacted_at: None,
                last_stage_changed_at: Some(ts(40 + i * 5, 0)),
                created_at: ts(30 + i * 3, 120),
                updated_at: ts(60 + i * 7, 200),
                tags: match i % 5 {
                    0 => vec![11],
                    1 => vec![12],
                    2 => vec![13, 11],
                    _ => vec![],
                },
                fields,
                additional_parties: if i % 4 == 0 { vec![124 + i] } else { vec![] },
            },
        );
    }

    // ---- projects (kases): 500..=509 --------------------------------------
    for i in 0..10i64 {
        let id = 500 + i;
        let opp = 303 + i * 3; // won opportunities (i % 6 == 3) and some others
        let party = s.opportunities.get(&opp).map_or(101, |o| o.party);
        let board7 = i < 7;
        let stage = if board7 { 71 + i % 4 } else { 81 + i % 3 };
        let closed = i == 3 || i == 8;
        let mut fields = vec![];
        let row = s.alloc("row");
        fields.push(FieldValue {
            id: row,
            definition: 70,
            value: json!(format!("PRJ-{:04}", 100 + i)),
        });
        let row = s.alloc("row");
        fields.push(FieldValue {
            id: row,
            definition: 71,
            value: json!((40 + i * 10).to_string()),
        });
        if i % 2 == 0 {
            let row = s.alloc("row");
            fields.push(FieldValue {
                id: row,
                definition: 73,
                value: json!(["Low", "Medium", "High"][(i % 3) as usize]),
            });
        }
        s.kases.insert(
            id,
            Kase {
                id,
                name: [
                    "Website build",
                    "Campaign launch",
                    "Research",
                    "Analytics dashboard",
                    "App prototype",
                    "SEO audit",
                    "Brand guidelines",
                    "Support retainer",
                    "Hosting migration",
                    "Accessibility fixes",
                ][i as usize]
                    .into(),
                description: Some(format!("Delivery project number {}", i + 1)),
                party,
                opportunity: if i % 3 == 2 { None } else { Some(opp) },
                status: if closed { "CLOSED" } else { "OPEN" }.into(),
                stage: Some(stage),
                owner: if board7 {
                    Some(if i % 2 == 0 { ADMIN_USER } else { THIRD_USER })
                } else {
                    None
                },
                team: if board7 { None } else { Some(9) },
                expected_close_on: Some(date(150 + i as u64 * 12)),
                closed_on: if closed {
                    Some(date(200 + i as u64))
                } else {
                    None
                },
                start_on: if i % 2 == 0 {
                    Some(date(100 + i as u64 * 3))
                } else {
                    None
                },
                last_contacted_at: None,
                created_at: ts(90 + i * 4, 10),
                updated_at: ts(120 + i * 9, 10),
                tags: match i % 3 {
                    0 => vec![21],
                    1 => vec![22],
                    _ => vec![],
                },
                fields,
                additional_parties: if i == 0 { vec![130] } else { vec![] },
            },
        );
    }

    // ---- tasks: 700..=739 -------------------------------------------------
    let task_names = [
        "Send quarterly invoice",
        "Call back about the quote",
        "Email the proposal",
        "Follow up after the demo",
        "Prepare kickoff agenda",
        "Review signed contract",
        "Chase overdue payment",
        "Book site visit",
    ];
    for i in 0..40i64 {
        let id = 700 + i;
        let status = match i % 4 {
            0 | 1 => "OPEN",
            2 => "COMPLETED",
            _ => "PENDING",
        };
        let (party, opportunity, kase) = if i % 7 == 6 {
            (None, None, None)
        } else {
            match i % 3 {
                0 => (Some(100 + (i * 7) % 80), None, None),
                1 => (None, Some(300 + i % 30), None),
                _ => (None, None, Some(500 + i % 10)),
            }
        };
        let owner = match i % 3 {
            0 => ADMIN_USER,
            1 => STANDARD_USER,
            _ => THIRD_USER,
        };
        s.tasks.insert(
            id,
            Task {
                id,
                description: task_names[(i % 8) as usize].into(),
                detail: if i % 2 == 0 {
                    Some("See the notes on the record".into())
                } else {
                    None
                },
                category: match i % 5 {
                    0 => Some(47),
                    1 => Some(48),
                    2 => Some(49),
                    3 => Some(50),
                    _ => None,
                },
                due_on: date(30 + i as u64 * 8),
                due_time: if i % 3 == 0 {
                    Some("14:30:00".into())
                } else {
                    None
                },
                status: status.into(),
                party,
                opportunity,
                kase,
                owner: Some(owner),
                completed_by: if status == "COMPLETED" {
                    Some(owner)
                } else {
                    None
                },
                completed_at: if status == "COMPLETED" {
                    Some(ts(31 + i * 6, 600))
                } else {
                    None
                },
                repeat: if i == 0 {
                    json!({ "interval": 3, "frequency": "MONTHLY", "on": "1" })
                } else {
                    Value::Null
                },
                created_at: ts(20 + i * 6, 300),
                updated_at: ts(25 + i * 6, 300),
            },
        );
    }

    // ---- entries: 900..=999 -----------------------------------------------
    // Ten "task completed" entries for the completed tasks, then 90 others.
    let completed: Vec<Task> = s
        .tasks
        .values()
        .filter(|t| t.status == "COMPLETED")
        .filter(|t| t.party.is_some() || t.opportunity.is_some() || t.kase.is_some())
        .cloned()
        .collect();
    let mut next_entry = 900i64;
    for t in &completed {
        let at = t.completed_at.unwrap_or_else(|| ts(0, 0));
        s.entries.insert(
            next_entry,
            Entry {
                id: next_entry,
                kind: "task".into(),
                creator: t.completed_by,
                activity_type: Some(-4),
                created_at: at,
                updated_at: at,
                entry_at: at,
                subject: None,
                content: Some(t.description.clone()),
                party: t.party,
                opportunity: t.opportunity,
                kase: t.kase,
                parties: vec![],
                participants: vec![],
                attachments: vec![],
            },
        );
        next_entry += 1;
    }
    let note_texts = [
        "Met at the trade show, keen on a redesign.",
        "Discussed budget for next quarter.",
        "Sent over case studies.",
        "Agreed next steps and timeline.",
        "They want a fixed-price quote.",
        "Asked about hosting options.",
    ];
    let mut i = 0i64;
    while next_entry < 1000 {
        let id = next_entry;
        let creator = match i % 3 {
            0 => ADMIN_USER,
            1 => STANDARD_USER,
            _ => THIRD_USER,
        };
        let (party, opportunity, kase) = match i % 9 {
            0..=5 => (
                Some(if i % 2 == 0 {
                    100 + (i / 2) % 20
                } else {
                    120 + (i * 7) % 60
                }),
                None,
                None,
            ),
            6 | 7 => (None, Some(300 + (i * 7) % 30), None),
            _ => (None, None, Some(500 + i % 10)),
        };
        let kind_sel = i % 6;
        let at = ts(10 + (i * 29) % 290, (i * 37) % 600);
        let mut e = Entry {
            id,
            kind: "note".into(),
            creator: Some(creator),
            activity_type: Some(-1),
            created_at: at,
            updated_at: at,
            entry_at: at,
            subject: None,
            content: Some(note_texts[(i % 6) as usize].into()),
            party,
            opportunity,
            kase,
            parties: vec![],
            participants: vec![],
            attachments: vec![],
        };
        match kind_sel {
            1 => e.activity_type = Some(-3),
            2 => e.activity_type = Some(-2),
            3 => e.activity_type = Some(101),
            4 => {
                // An email with subject, parties and participants.
                let pid = party.unwrap_or(120 + i % 60);
                let (addr, name) = s
                    .parties
                    .get(&pid)
                    .map(|p| {
                        (
                            p.emails
                                .first()
                                .map(|e| e.address.clone())
                                .unwrap_or_default(),
                            p.display_name(),
                        )
                    })
                    .unwrap_or_default();
                let user_name = s
                    .users
                    .get(&creator)
                    .map(|u| u.name.clone())
                    .unwrap_or_default();
                e.kind = "email".into();
                e.activity_type = None;
                e.subject = Some(format!("Re: quote #{}", 1000 + i));
                e.content = Some("Thanks for the quote, we will review it this week.".into());
                e.parties = vec![pid];
                e.participants = vec![
                    json!({ "id": 1 + i * 2, "address": addr, "name": name, "role": "FROM" }),
                    json!({ "id": 2 + i * 2, "address": format!("{}@brightside.example", s.users.get(&creator).map(|u| u.username.clone()).unwrap_or_default()), "name": user_name, "role": "TO" }),
                ];
            }
            _ => {}
        }
        s.entries.insert(id, e);
        next_entry += 1;
        i += 1;
    }
    refresh_last_contacted(&mut s);

    // ---- deleted and restricted records -----------------------------------
    s.deleted_parties = vec![
        Tombstone {
            id: 95,
            deleted_at: ts(55, 0),
        },
        Tombstone {
            id: 96,
            deleted_at: ts(160, 0),
        },
    ];
    s.deleted_opportunities = vec![Tombstone {
        id: 290,
        deleted_at: ts(87, 0),
    }];
    s.deleted_kases = vec![Tombstone {
        id: 490,
        deleted_at: ts(120, 0),
    }];
    s.restricted_parties = vec![(
        ts(177, 0),
        json!({
            "id": 97, "type": "person", "firstName": null, "lastName": "Private",
            "pictureURL": "https://capsulecrm.com/theme/default/images/person_avatar_70.png",
            "isRestricted": true,
        }),
    )];

    for (seq, next) in [
        ("party", 1000),
        ("opportunity", 2000),
        ("kase", 3000),
        ("task", 4000),
        ("entry", 10_000),
        ("tag", 100),
        ("definition", 200),
        ("pipeline", 20),
        ("milestone", 20),
        ("lostReason", 20),
        ("board", 20),
        ("stage", 100),
        ("category", 60),
        ("activityType", 110),
        ("title", 10),
        ("attachment", 1),
    ] {
        s.set_counter(seq, next);
    }
    s
}

/// Sets each record's `lastContactedAt` from its entries whose activity type
/// updates it (emails always do).
pub(crate) fn refresh_last_contacted(s: &mut Store) {
    let mut updates: Vec<(Option<i64>, Option<i64>, Option<i64>, DateTime<Utc>)> = vec![];
    for e in s.entries.values() {
        let counts = e.kind == "email"
            || e.activity_type
                .and_then(|a| s.activity_type(a))
                .is_some_and(|a| a.update_last_contacted);
        if counts {
            updates.push((e.party, e.opportunity, e.kase, e.entry_at));
            for p in &e.parties {
                updates.push((Some(*p), None, None, e.entry_at));
            }
        }
    }
    for (party, opp, kase, at) in updates {
        if let Some(p) = party.and_then(|id| s.parties.get_mut(&id)) {
            p.last_contacted_at = p.last_contacted_at.max(Some(at));
        }
        if let Some(o) = opp.and_then(|id| s.opportunities.get_mut(&id)) {
            o.last_contacted_at = o.last_contacted_at.max(Some(at));
        }
        if let Some(k) = kase.and_then(|id| s.kases.get_mut(&id)) {
            k.last_contacted_at = k.last_contacted_at.max(Some(at));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn seed_has_expected_sizes() {
        let s = seed();
        assert_eq!(
            s.parties
                .values()
                .filter(|p| p.kind == PartyKind::Organisation)
                .count(),
            20
        );
        assert_eq!(
            s.parties
                .values()
                .filter(|p| p.kind == PartyKind::Person)
                .count(),
            60
        );
        assert_eq!(s.opportunities.len(), 30);
        assert_eq!(s.kases.len(), 10);
        assert_eq!(s.tasks.len(), 40);
        assert_eq!(s.entries.len(), 100);
        for st in ["OPEN", "COMPLETED", "PENDING"] {
            assert!(s.tasks.values().any(|t| t.status == st));
        }
        // every link points at an existing record
        for o in s.opportunities.values() {
            assert!(s.parties.contains_key(&o.party));
            assert!(s.milestones.contains_key(&o.milestone));
        }
        for k in s.kases.values() {
            assert!(s.parties.contains_key(&k.party));
        }
        for e in s.entries.values() {
            let n = [e.party.is_some(), e.opportunity.is_some(), e.kase.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            assert!(n <= 1);
        }
        let latest = s.parties.values().map(|p| p.updated_at).max().unwrap();
        assert!(latest < ts(300, 0));
    }

    #[test]
    fn seed_is_deterministic() {
        let a = seed();
        let b = seed();
        let ra: Vec<_> = a
            .parties
            .values()
            .map(|p| a.render_party(p, Default::default()))
            .collect();
        let rb: Vec<_> = b
            .parties
            .values()
            .map(|p| b.render_party(p, Default::default()))
            .collect();
        assert_eq!(ra, rb);
    }
}
