"""Word lists the demo city's generators sample from: people's names, Paris streets and places.

Names come from Faker's fr_FR provider lists, read once into tuples: sampling a tuple with a seeded
`random.Random` costs well under a microsecond, while a Faker call per row would dominate the
generation of a million residents. The lists are fixed by the locked Faker version, so the same
seed gives the same people for as long as the lock file does not change.
"""

from __future__ import annotations

import re

from faker.providers.person.fr_FR import Provider as _FrenchPeople

GIVEN_NAMES_FEMALE: tuple[str, ...] = tuple(_FrenchPeople.first_names_female)
GIVEN_NAMES_MALE: tuple[str, ...] = tuple(_FrenchPeople.first_names_male)
GIVEN_NAMES_ANY: tuple[str, ...] = GIVEN_NAMES_FEMALE + GIVEN_NAMES_MALE
FAMILY_NAMES: tuple[str, ...] = tuple(_FrenchPeople.last_names)

DISTRICT_NAMES: tuple[str, ...] = (
    "Louvre",
    "Bourse",
    "Temple",
    "Hôtel-de-Ville",
    "Panthéon",
    "Luxembourg",
    "Palais-Bourbon",
    "Élysée",
    "Opéra",
    "Entrepôt",
    "Popincourt",
    "Reuilly",
    "Gobelins",
    "Observatoire",
    "Vaugirard",
    "Passy",
    "Batignolles-Monceau",
    "Buttes-Montmartre",
    "Buttes-Chaumont",
    "Ménilmontant",
)
"""Official names of the arrondissements 1 to 20, spelt as Ville de Paris's open data spells them."""

QUARTIER_NAMES: tuple[str, ...] = (
    "Saint-Germain-l'Auxerrois", "Halles", "Palais-Royal", "Place-Vendôme",
    "Gaillon", "Vivienne", "Mail", "Bonne-Nouvelle",
    "Arts-et-Métiers", "Enfants-Rouges", "Archives", "Sainte-Avoie",
    "Saint-Merri", "Saint-Gervais", "Arsenal", "Notre-Dame",
    "Saint-Victor", "Jardin-des-Plantes", "Val-de-Grace", "Sorbonne",
    "Monnaie", "Odéon", "Notre-Dame-des-Champs", "Saint-Germain-des-Prés",
    "Saint-Thomas-d'Aquin", "Invalides", "Ecole-Militaire", "Gros-Caillou",
    "Champs-Elysées", "Faubourg-du-Roule", "Madeleine", "Europe",
    "Saint-Georges", "Chaussée-d'Antin", "Faubourg-Montmartre", "Rochechouart",
    "Saint-Vincent-de-Paul", "Porte-Saint-Denis", "Porte-Saint-Martin", "Hôpital-Saint-Louis",
    "Folie-Méricourt", "Saint-Ambroise", "Roquette", "Sainte-Marguerite",
    "Bel-Air", "Picpus", "Bercy", "Quinze-Vingts",
    "Salpêtrière", "Gare", "Maison-Blanche", "Croulebarbe",
    "Montparnasse", "Parc-de-Montsouris", "Petit-Montrouge", "Plaisance",
    "Saint-Lambert", "Necker", "Grenelle", "Javel",
    "Auteuil", "Muette", "Porte-Dauphine", "Chaillot",
    "Ternes", "Plaine de Monceaux", "Batignolles", "Epinettes",
    "Grandes-Carrières", "Clignancourt", "Goutte-d'Or", "La Chapelle",
    "Villette", "Pont-de-Flandre", "Amérique", "Combat",
    "Belleville", "Saint-Fargeau", "Père-Lachaise", "Charonne",
)  # fmt: skip
"""The 80 quartiers administratifs in INSEE order (7510101 ... 7512004), four per arrondissement."""

POPULATION_2021: tuple[int, ...] = (
    15_900, 20_900, 33_000, 28_100, 56_800, 40_900, 48_500, 35_000, 59_600, 83_500,
    142_600, 140_300, 178_400, 136_400, 230_000, 164_600, 166_300, 190_000, 183_200, 193_300,
)  # fmt: skip
"""Approximate legal populations of the arrondissements 1 to 20 (INSEE, 2021): the weights with
which synthetic households are spread, so the demo's densities look like the city's."""

STREETS: tuple[tuple[str, ...], ...] = (
    # 1er
    ("Rue de Rivoli", "Rue Saint-Honoré", "Rue du Louvre", "Rue de Richelieu", "Place Vendôme",
     "Rue Coquillière", "Rue de l'Arbre-Sec", "Rue du Pont-Neuf", "Quai du Louvre",
     "Rue Jean-Jacques-Rousseau", "Rue Berger", "Rue des Bons-Enfants", "Rue de Castiglione"),
    # 2e
    ("Rue Réaumur", "Rue Montmartre", "Rue du Sentier", "Rue d'Aboukir", "Rue de Cléry",
     "Rue Vivienne", "Rue du Quatre-Septembre", "Rue Saint-Marc", "Rue des Petits-Carreaux",
     "Rue de la Paix", "Rue Saint-Denis", "Rue Tiquetonne", "Rue Montorgueil"),
    # 3e
    ("Rue de Bretagne", "Rue Vieille-du-Temple", "Rue des Archives", "Rue de Turenne",
     "Rue Charlot", "Rue du Temple", "Rue de Saintonge", "Rue des Gravilliers", "Rue Beaubourg",
     "Rue de Picardie", "Rue Debelleyme", "Rue du Vertbois", "Boulevard du Temple"),
    # 4e
    ("Rue Saint-Antoine", "Rue des Francs-Bourgeois", "Rue des Rosiers", "Quai de l'Hôtel-de-Ville",
     "Rue du Renard", "Rue Saint-Paul", "Rue de la Verrerie", "Rue Saint-Louis-en-l'Île",
     "Boulevard Henri-IV", "Rue des Lombards", "Rue de Birague", "Place des Vosges"),
    # 5e
    ("Rue Mouffetard", "Rue Monge", "Boulevard Saint-Michel", "Rue Saint-Jacques",
     "Rue Gay-Lussac", "Rue des Écoles", "Rue Claude-Bernard", "Rue du Cardinal-Lemoine",
     "Rue Censier", "Rue Descartes", "Quai de la Tournelle", "Rue Lacépède", "Rue Buffon"),
    # 6e
    ("Rue de Rennes", "Rue Bonaparte", "Rue du Cherche-Midi", "Rue Saint-Sulpice", "Rue de Seine",
     "Rue Mazarine", "Rue d'Assas", "Rue Notre-Dame-des-Champs", "Rue de Fleurus", "Rue Madame",
     "Rue Guynemer", "Rue Dauphine", "Rue de l'Odéon"),
    # 7e
    ("Rue de Grenelle", "Rue Saint-Dominique", "Rue de l'Université", "Rue du Bac",
     "Avenue Bosquet", "Avenue de La Bourdonnais", "Rue Cler", "Avenue de Saxe", "Rue de Varenne",
     "Avenue Rapp", "Rue de Bourgogne", "Quai d'Orsay", "Rue de Babylone"),
    # 8e
    ("Avenue des Champs-Élysées", "Rue du Faubourg-Saint-Honoré", "Boulevard Haussmann",
     "Avenue Montaigne", "Rue La Boétie", "Rue de Miromesnil", "Boulevard Malesherbes",
     "Avenue George-V", "Rue de Courcelles", "Rue du Rocher", "Rue de Berri", "Rue Royale",
     "Avenue Marceau"),
    # 9e
    ("Rue des Martyrs", "Rue La Fayette", "Rue de Châteaudun", "Rue Saint-Lazare", "Rue de Clichy",
     "Rue Cadet", "Rue du Faubourg-Montmartre", "Rue Blanche", "Rue Notre-Dame-de-Lorette",
     "Rue de Provence", "Rue Taitbout", "Rue de Maubeuge", "Rue Condorcet"),
    # 10e
    ("Rue du Faubourg-Saint-Denis", "Rue du Faubourg-Saint-Martin", "Boulevard de Magenta",
     "Rue de Paradis", "Quai de Valmy", "Quai de Jemmapes", "Rue de Lancry", "Rue des Vinaigriers",
     "Rue Beaurepaire", "Boulevard de Strasbourg", "Rue du Château-d'Eau", "Rue des Récollets",
     "Rue Bichat"),
    # 11e
    ("Rue Oberkampf", "Boulevard Voltaire", "Rue de la Roquette", "Boulevard Richard-Lenoir",
     "Rue de Charonne", "Avenue de la République", "Avenue Parmentier", "Rue Saint-Maur",
     "Rue Jean-Pierre-Timbaud", "Rue Amelot", "Rue de la Folie-Méricourt", "Rue Saint-Sabin",
     "Rue de Montreuil"),
    # 12e
    ("Avenue Daumesnil", "Rue de Charenton", "Boulevard Diderot", "Avenue du Général-Michel-Bizot",
     "Rue de Picpus", "Cours de Vincennes", "Rue de Reuilly", "Boulevard de Bercy", "Rue de Lyon",
     "Avenue Ledru-Rollin", "Rue Crozatier", "Boulevard Soult", "Rue Claude-Decaen"),
    # 13e
    ("Avenue d'Italie", "Boulevard de l'Hôpital", "Avenue de Choisy", "Rue de Tolbiac",
     "Boulevard Auguste-Blanqui", "Rue de la Butte-aux-Cailles", "Avenue des Gobelins",
     "Rue du Chevaleret", "Avenue de France", "Rue Nationale", "Boulevard Vincent-Auriol",
     "Rue Bobillot", "Avenue d'Ivry"),
    # 14e
    ("Avenue du Maine", "Rue d'Alésia", "Avenue du Général-Leclerc", "Rue Daguerre",
     "Rue Raymond-Losserand", "Rue de la Tombe-Issoire", "Boulevard Brune", "Avenue Jean-Moulin",
     "Rue Didot", "Rue du Château", "Rue Boulard", "Rue Pernety", "Boulevard Saint-Jacques"),
    # 15e
    ("Rue de Vaugirard", "Rue de la Convention", "Rue du Commerce", "Avenue Émile-Zola",
     "Rue Lecourbe", "Rue Saint-Charles", "Boulevard de Grenelle", "Avenue Félix-Faure",
     "Rue de la Croix-Nivert", "Rue Cambronne", "Boulevard Pasteur", "Rue de Javel", "Rue Blomet"),
    # 16e
    ("Avenue Victor-Hugo", "Rue de Passy", "Avenue Mozart", "Avenue de Versailles",
     "Rue d'Auteuil", "Avenue Kléber", "Avenue Foch", "Rue de la Pompe", "Avenue Paul-Doumer",
     "Avenue Henri-Martin", "Rue Michel-Ange", "Rue Lauriston", "Boulevard Exelmans"),
    # 17e
    ("Avenue de Clichy", "Rue des Dames", "Rue Legendre", "Avenue de Villiers", "Rue de Lévis",
     "Boulevard Pereire", "Avenue des Ternes", "Rue Cardinet", "Boulevard des Batignolles",
     "Avenue de Wagram", "Rue de Tocqueville", "Rue Guy-Môquet", "Rue Brochant"),
    # 18e
    ("Rue Ordener", "Rue Marcadet", "Boulevard de Rochechouart", "Rue Lepic", "Rue Caulaincourt",
     "Boulevard Barbès", "Rue de la Chapelle", "Rue Custine", "Rue Damrémont", "Rue des Abbesses",
     "Rue Championnet", "Rue Myrha", "Rue Marx-Dormoy"),
    # 19e
    ("Avenue Jean-Jaurès", "Rue de Crimée", "Avenue de Flandre", "Rue de Meaux", "Avenue Secrétan",
     "Rue Manin", "Boulevard de la Villette", "Rue Botzaris", "Rue de l'Ourcq", "Quai de la Loire",
     "Quai de la Seine", "Rue d'Hautpoul", "Rue de Mouzaïa"),
    # 20e
    ("Rue des Pyrénées", "Rue de Belleville", "Rue de Ménilmontant", "Boulevard de Charonne",
     "Rue de Bagnolet", "Avenue Gambetta", "Rue d'Avron", "Rue des Maraîchers", "Rue Saint-Blaise",
     "Boulevard de Belleville", "Rue de la Chine", "Rue des Orteaux", "Rue Orfila"),
)  # fmt: skip
"""Real streets of each arrondissement (1 to 20); a few long ones cross into a neighbour."""

NEIGHBOURING_COMMUNES: tuple[tuple[float, str], ...] = (
    (0.0, "Saint-Ouen-sur-Seine"),
    (20.0, "Saint-Denis"),
    (35.0, "Aubervilliers"),
    (50.0, "Pantin"),
    (65.0, "Les Lilas"),
    (78.0, "Bagnolet"),
    (92.0, "Montreuil"),
    (108.0, "Vincennes"),
    (125.0, "Charenton-le-Pont"),
    (150.0, "Ivry-sur-Seine"),
    (168.0, "Le Kremlin-Bicêtre"),
    (180.0, "Gentilly"),
    (192.0, "Montrouge"),
    (205.0, "Malakoff"),
    (216.0, "Vanves"),
    (232.0, "Issy-les-Moulineaux"),
    (252.0, "Boulogne-Billancourt"),
    (295.0, "Neuilly-sur-Seine"),
    (315.0, "Levallois-Perret"),
    (335.0, "Clichy"),
)
"""Communes around Paris by bearing from its centre (degrees clockwise from north)."""

_STREET_KIND = re.compile(
    r"^(Rue|Avenue|Boulevard|Quai|Place|Cours|Passage) (de la |de l'|des |du |de |d')?"
)


def short_street(street: str) -> str:
    """The part of a street name that signs and station names keep: `Rue de Rivoli` -> `Rivoli`."""
    return _STREET_KIND.sub("", street) or street


def commune_at(bearing: float) -> tuple[int, str]:
    """Index and name of the neighbouring commune closest to a bearing from the centre of Paris."""

    def gap(item: tuple[int, tuple[float, str]]) -> float:
        delta = abs(item[1][0] - bearing % 360.0)
        return min(delta, 360.0 - delta)

    index, (_, name) = min(enumerate(NEIGHBOURING_COMMUNES), key=gap)
    return index, name


SUBURBAN_PLACES: tuple[str, ...] = (
    "Gabriel Péri", "Jean Jaurès", "Victor Hugo", "République", "Mairie", "Gare", "Général Leclerc",
    "Paul Vaillant-Couturier", "Marcel Cachin", "Jules Guesde", "Pasteur", "Anatole France", "Carnot",
    "Danton", "Émile Zola", "Henri Barbusse", "Camille Desmoulins", "Parc", "Marché", "Église",
)  # fmt: skip
"""Place names that street signs and station names around Paris often carry."""


def of_place(name: str) -> str:
    """French "of" before a place name: `de Montreuil`, `d'Ivry-sur-Seine`, `des Lilas`, `du Kremlin-Bicêtre`."""
    if name.startswith("Les "):
        return "des " + name[4:]
    if name.startswith("Le "):
        return "du " + name[3:]
    if name[:1] in "AEIOUYÉH":
        return "d'" + name
    return "de " + name
