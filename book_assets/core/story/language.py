"""The book's language: every sentence the book writes itself — title page, copyright, "The End",
draw pages, closing page, cover blurb — and the words the offline writer needs (colours, numbers,
plural forms), in English, Spanish, French, German and Russian.

Names stay in the nominative everywhere (sentences are built so that "Луна" never needs a case
ending), colours are nouns ("the colour sky blue"), so nothing needs gender agreement. Counts are
written as words up to twenty, as children read them; plural forms follow each language's rule
(Russian: один рисунок, два рисунка, пять рисунков).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_LANGUAGE = "en"


def _english_plural(count: int) -> int:
    return 0 if count == 1 else 1


def _russian_plural(count: int) -> int:
    """0: один рисунок, 1: два рисунка, 2: пять рисунков (CLDR one / few / many)."""
    if count % 10 == 1 and count % 100 != 11:
        return 0
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return 1
    return 2


def _french_plural(count: int) -> int:
    return 0 if count in (0, 1) else 1


@dataclass(frozen=True)
class Language:
    """Everything the book says in one language. Plural nouns are tuples indexed by ``plural``."""

    code: str
    name: str
    numbers: tuple[str, ...]                  # 0..20 as words
    plural: Callable[[int], int]
    drawing: tuple[str, ...]                  # "drawing" / "drawings"
    picture: tuple[str, ...]                  # "new picture" / "new pictures"
    colours: dict[str, str]                   # English colour name -> this language's
    and_word: str
    the_end: str
    belongs_to: str
    rights: str                               # "All rights reserved."
    copyright_by: str                         # "Text and pictures © {year} {author}."
    pictures_and_words_by: str                # "Pictures and words by {author}"
    faces: str                                # what the spreads show, on the copyright page
    draw_character: str                       # "Draw {name} on a new adventure!"
    general_prompts: tuple[str, ...]
    closing: str                              # "{title} was drawn by {maker}: {drawings} and {pictures} made from them."
    thank_you: str                            # the closing words on the last page: close the book, thanks
    young_artists: str
    this_book: str
    meet: str                                 # "Meet {names}!"
    and_friends: str                          # "{names} and friends"
    title_two: str                            # "{a} and {b}"
    title_many: str                           # "{a}, {b} and Friends"
    title_one: str                            # "The Story of {a}"
    untitled: str
    blurb_made: str                           # "{drawings} by {maker}, and {pictures} made from them."
    fallback_blurb: str
    one: tuple[str, str] = ("one", "one")    # the word for 1 before "drawing" and before "picture" (gender)

    def number(self, count: int) -> str:
        """A count as a word up to twenty, digits beyond."""
        return self.numbers[count] if 0 <= count < len(self.numbers) else str(count)

    def count(self, count: int, noun: Sequence[str]) -> str:
        """"seven drawings", "семь рисунков", "une nouvelle image"."""
        word = self.one[0 if noun is self.drawing else 1] if count == 1 else self.number(count)
        return f"{word} {noun[min(self.plural(count), len(noun) - 1)]}"

    def colour(self, english: str) -> str:
        return self.colours.get(english, english)

    def join(self, names: Sequence[str]) -> str:
        """"Max, Luna and Pip"."""
        names = list(names)
        if len(names) <= 1:
            return "".join(names)
        return f"{', '.join(names[:-1])} {self.and_word} {names[-1]}"


_EN_COLOURS = ["cherry red", "bright orange", "sunny yellow", "lime green", "leafy green", "forest green",
               "sea green", "sky blue", "ocean blue", "midnight blue", "grape purple", "lilac", "hot pink",
               "candy pink", "peach", "cocoa brown", "sandy tan", "snowy white", "cloudy grey", "inky black"]


def _colours(names: str) -> dict[str, str]:
    return dict(zip(_EN_COLOURS, [name.strip() for name in names.split(",")], strict=True))


LANGUAGES: dict[str, Language] = {language.code: language for language in (
    Language(
        "en", "English",
        tuple("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
              "seventeen eighteen nineteen twenty".split()),
        _english_plural, ("drawing", "drawings"), ("new picture", "new pictures"), {name: name for name in _EN_COLOURS},
        "and", "The End", "This book belongs to", "All rights reserved.", "Text and pictures \u00a9 {year} {author}.",
        "Pictures and words by {author}", "Each drawing faces the new pictures an image model made from it.",
        "Draw {name} on a new adventure!",
        ("Draw a new friend for this book!", "What happens next? Draw it here!", "Draw yourself in the story!"),
        "{title} was drawn by {maker}: {drawings} and {pictures} made from them.", "Now it is time to close the book and dream. Thank you for reading!",
        "its young artists", "This book", "Meet {names}!", "{names} and friends", "{a} and {b}",
        "{a}, {b} and Friends", "The Story of {a}", "Our Picture Book", "{drawings} by {maker}, and {pictures} made from them.",
        "A picture book made from children's drawings."),
    Language(
        "es", "Español",
        tuple("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince dieciséis "
              "diecisiete dieciocho diecinueve veinte".split()),
        _english_plural, ("dibujo", "dibujos"), ("imagen nueva", "imágenes nuevas"),
        _colours("rojo cereza, naranja vivo, amarillo sol, verde lima, verde hoja, verde bosque, verde mar, azul cielo,"
                 " azul océano, azul noche, morado uva, lila, rosa fuerte, rosa caramelo, melocotón, marrón chocolate,"
                 " arena, blanco nieve, gris nube, negro tinta"),
        "y", "Fin", "Este libro es de", "Todos los derechos reservados.", "Texto e imágenes \u00a9 {year} {author}.",
        "Dibujos y palabras de {author}", "Cada dibujo está junto a las imágenes nuevas que un modelo de imagen hizo con él.",
        "¡Dibuja a {name} en una nueva aventura!",
        ("¡Dibuja un nuevo amigo para este libro!", "¿Qué pasa después? ¡Dibújalo aquí!", "¡Dibújate en el cuento!"),
        "{title} lo dibujaron {maker}: {drawings} y {pictures} hechas a partir de ellos.", "Es hora de cerrar el libro y soñar. ¡Gracias por leer!",
        "sus jóvenes artistas", "Este libro", "¡Conoce a {names}!", "{names} y sus amigos", "{a} y {b}",
        "{a}, {b} y sus amigos", "La historia de {a}", "Nuestro libro ilustrado",
        "{drawings} de {maker}, y {pictures} hechas a partir de ellos.", "Un libro ilustrado hecho con dibujos de niños.", ("un", "una")),
    Language(
        "fr", "Français",
        tuple("zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize dix-sept "
              "dix-huit dix-neuf vingt".split()),
        _french_plural, ("dessin", "dessins"), ("nouvelle image", "nouvelles images"),
        _colours("rouge cerise, orange vif, jaune soleil, vert citron, vert feuille, vert forêt, vert d’eau, bleu ciel,"
                 " bleu océan, bleu nuit, violet raisin, lilas, rose vif, rose bonbon, pêche, brun chocolat, sable,"
                 " blanc neige, gris nuage, noir d’encre"),
        "et", "Fin", "Ce livre appartient à", "Tous droits réservés.", "Texte et images \u00a9 {year} {author}.",
        "Dessins et mots de {author}", "Chaque dessin fait face aux nouvelles images qu’un modèle d’images en a tirées.",
        "Dessine {name} dans une nouvelle aventure !",
        ("Dessine un nouvel ami pour ce livre !", "Et après ? Dessine-le ici !", "Dessine-toi dans l’histoire !"),
        "{title} a été dessiné par {maker} : {drawings} et {pictures} faites à partir d’eux.", "Il est temps de fermer le livre et de rêver. Merci d’avoir lu !",
        "ses jeunes artistes", "Ce livre", "Voici {names} !", "{names} et leurs amis", "{a} et {b}",
        "{a}, {b} et leurs amis", "L’histoire de {a}", "Notre livre d’images",
        "{drawings} de {maker}, et {pictures} faites à partir d’eux.", "Un livre d’images fait de dessins d’enfants.", ("un", "une")),
    Language(
        "de", "Deutsch",
        tuple("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn "
              "siebzehn achtzehn neunzehn zwanzig".split()),
        _english_plural, ("Zeichnung", "Zeichnungen"), ("neues Bild", "neue Bilder"),
        _colours("Kirschrot, Knallorange, Sonnengelb, Limettengrün, Blattgrün, Waldgrün, Meergrün, Himmelblau, "
                 "Ozeanblau, Nachtblau, Traubenlila, Flieder, Pink, Bonbonrosa, Pfirsich, Schokobraun, Sandbeige, "
                 "Schneeweiß, Wolkengrau, Tintenschwarz"),
        "und", "Ende", "Dieses Buch gehört", "Alle Rechte vorbehalten.", "Text und Bilder \u00a9 {year} {author}.",
        "Bilder und Worte von {author}", "Jeder Zeichnung gegenüber stehen die neuen Bilder, die ein Bildmodell daraus machte.",
        "Male {name} in einem neuen Abenteuer!",
        ("Male einen neuen Freund für dieses Buch!", "Was passiert als Nächstes? Male es hier!", "Male dich selbst in die Geschichte!"),
        "{title} wurde von {maker} gemalt: {drawings} und {pictures}, die daraus entstanden.", "Jetzt ist es Zeit, das Buch zu schließen und zu träumen. Danke fürs Lesen!",
        "seinen jungen Künstlern", "Dieses Buch", "Das sind {names}!", "{names} und Freunde", "{a} und {b}",
        "{a}, {b} und Freunde", "Die Geschichte von {a}", "Unser Bilderbuch",
        "{drawings} von {maker}, und {pictures}, die daraus entstanden.", "Ein Bilderbuch aus Kinderzeichnungen.", ("eine", "ein")),
    Language(
        "ru", "Русский",
        tuple("ноль один два три четыре пять шесть семь восемь девять десять одиннадцать двенадцать тринадцать "
              "четырнадцать пятнадцать шестнадцать семнадцать восемнадцать девятнадцать двадцать".split()),
        _russian_plural, ("рисунок", "рисунка", "рисунков"), ("новый рисунок", "новых рисунка", "новых рисунков"),
        _colours("вишнёво-красный, ярко-оранжевый, солнечно-жёлтый, салатовый, травяной, тёмно-зелёный, "
                 "морской, небесно-голубой, океанский синий, тёмно-синий, фиолетовый, сиреневый, ярко-розовый, "
                 "нежно-розовый, персиковый, шоколадный, песочный, белоснежный, серый, чёрный"),
        "и", "Конец", "Эта книга принадлежит", "Все права защищены.", "Текст и рисунки \u00a9 {year} {author}.",
        "Рисунки и слова: {author}", "Напротив каждого рисунка — новые картинки, которые по нему сделала нейросеть.",
        "Нарисуй, куда отправится {name}!",
        ("Нарисуй нового друга для этой книги!", "Что было дальше? Нарисуй здесь!", "Нарисуй себя в этой истории!"),
        "«{title}» нарисовали {maker}: {drawings} и {pictures} по ним.", "Пора закрыть книгу и видеть сны. Спасибо, что прочитали!",
        "юные художники", "Эта книга", "Знакомьтесь: {names}!", "{names} и друзья", "{a} и {b}",
        "{a}, {b} и друзья", "История: {a}", "Наша книжка с картинками",
        "{drawings}: {maker}, и {pictures} по ним.", "Книжка с картинками из детских рисунков.", ("один", "один")),
)}


def language_for(code: str) -> Language:
    """The language for a book.toml code ("en", "es", "fr", "de", "ru"); KeyError for any other."""
    return LANGUAGES[code.strip().lower().replace("_", "-").split("-", 1)[0]]
