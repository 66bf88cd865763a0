"""The offline writer's sentences, per language: pools of templates for each part of the story.

The story has a small arc: the first page opens it ("open"), each next page brings a friend who
meets the one before ("middle"), the last page brings the last friend ("last") and ends the story
("end_many", or "end_one" for a book of one character — never "they" for one). Every sentence is in
the present tense. Placeholders: {name} the drawing's name, {prev} the friend before, {c1}/{c2}
colour names, {pictures} a counted phrase ("nine new pictures"). Names stay in the nominative.
"""
from __future__ import annotations

PHRASES: dict[str, dict[str, list[str]]] = {
    "en": {
        "open": [
            "Once upon a time, there is {name}.", "Our story starts with {name}.", "Say hello to {name}!",
            "This book begins with {name}.", "The first friend we meet is {name}.",
            "In a land of paper and crayons lives {name}.", "In a house full of crayons lives {name}.",
            "One sunny day, we meet {name}.", "Here is {name}, the first friend in our book.",
            "Open the book and wave to {name}!", "At the start of our tale, we find {name}.",
        ],
        "middle": [
            "Next, {prev} meets {name}.", "Then along comes {name}.", "Just down the road lives {name}.",
            "{prev} has a friend called {name}.", "Around the corner, {name} is waiting.",
            "{prev} waves hello to {name}.", "Here comes {name}!", "Over the hill lives {name}.",
            "Knock, knock, {name} is at the door!", "Then {name} joins the fun.", "{prev} runs off to find {name}.",
            "Look who is next, it is {name}!", "Not far from {prev} lives {name}.", "{name} and {prev} meet at the park.",
        ],
        "last": [
            "Last of all, {prev} meets {name}.", "Our last friend is {name}.", "At the very end, along comes {name}.",
            "The last friend to say hello is {name}.", "Last but not least, here is {name}.",
        ],
        "end_many": [
            "Now all the friends are sleepy, so good night!", "All the friends play until the sun goes down.",
            "And now they are all friends for ever and ever.",
        ],
        "end_one": [
            "Now {name} is sleepy, so good night!", "{name} plays until the sun goes down.", "Good night, {name}!",
        ],
        "one_colour": [
            "{name} is {c1} from top to toe.", "{name} loves to be {c1}.", "Can you find the {c1} on {name}?",
            "{name} is as {c1} as can be.", "{name} wears {c1} every day.", "{name} likes {c1} best of all.",
            "{name} shines in {c1}.", "A splash of {c1} is just right for {name}.", "{name} picks {c1} today.",
        ],
        "two_colours": [
            "{name} is {c1} and {c2}.", "{name} likes {c1} best, and {c2} too.", "Can you spot the {c1} and the {c2}?",
            "{name} is made of {c1} and {c2}.", "A bit of {c1} and a bit of {c2} make {name}.",
            "{name} has {c1} and {c2} all over.", "{name} mixes {c1} with {c2}.", "Look at all the {c1} and {c2}!",
            "{name} wears {c1} with a dash of {c2}.", "Find the {c1}, then find the {c2}.",
        ],
        "many": [
            "Look, there are {pictures} of {name}!", "There are {pictures} of {name} to find.",
            "Count them all: {pictures} of {name}!", "Can you find {name} in {pictures}?",
            "Here are {pictures} of {name}.", "Which of the {pictures} of {name} do you like best?",
            "Turn the page to find {pictures} of {name}.", "Turn the page: {pictures} of {name} are waiting!",
            "See {name} again in {pictures}.", "{name} is back in {pictures}.", "Spot {name} in {pictures}.",
            "{name} dresses up for {pictures}.",
        ],
        "one": [
            "There is {pictures} of {name} to find.", "Look, {name} has {pictures}!",
            "Turn the page to see {pictures} of {name}.", "See {name} once more in {pictures}.",
            "{name} is back in {pictures}.", "{name} dresses up for {pictures}.",
        ],
        "warm": [
            "{name} likes to run and jump.", "{name} is kind to all.", "We all smile when {name} is near.",
            "{name} has a big, warm heart.", "{name} loves to sing and dance.", "{name} gives the best hugs.",
            "{name} is brave and good.", "{name} likes to share.", "{name} likes a nap in the sun.",
            "{name} can hop, skip and spin.", "{name} loves to play all day.", "{name} tells the best jokes.",
        ],
    },
    "es": {
        "open": ["Había una vez {name}.", "Nuestra historia empieza con {name}.", "¡Saluda a {name}!",
                 "Este libro empieza con {name}.", "En una casa llena de colores vive {name}."],
        "middle": ["Después llega {name}.", "Por el camino aparece {name}.", "¡Toc, toc! Es {name}.",
                   "Y entonces llega {name} a jugar.", "Al lado vive {name}.", "¡Mira quién viene! Es {name}."],
        "last": ["Por último llega {name}.", "La última amiga del libro es {name}.", "Y al final aparece {name}."],
        "end_many": ["Todos los amigos juegan hasta que se pone el sol.", "Ahora todos tienen sueño. ¡Buenas noches!"],
        "end_one": ["¡Buenas noches, {name}!"],
        "one_colour": ["A {name} le encanta el color {c1}.", "¿Ves el color {c1}?", "{name} se viste de {c1}."],
        "two_colours": ["{name} tiene {c1} y {c2}.", "¿Encuentras el {c1} y el {c2}?", "Mira: {c1} y {c2}."],
        "many": ["¡Hay {pictures} de {name}!", "Busca las {pictures} de {name}.", "Cuenta las {pictures} de {name}."],
        "one": ["Hay {pictures} de {name}.", "Mira, ¡{pictures} de {name}!"],
        "warm": ["{name} corre y salta.", "{name} es muy amable.", "{name} canta y baila.", "{name} da los mejores abrazos."],
    },
    "fr": {
        "open": ["Il était une fois {name}.", "Notre histoire commence avec {name}.", "Dis bonjour à {name} !",
                 "Ce livre commence avec {name}.", "Dans une maison pleine de couleurs vit {name}."],
        "middle": ["Ensuite arrive {name}.", "Sur le chemin, voici {name}.", "Toc, toc ! C’est {name}.",
                   "Puis {name} vient jouer.", "Juste à côté vit {name}.", "Regarde qui arrive : c’est {name} !"],
        "last": ["Enfin arrive {name}.", "Le dernier ami du livre, c’est {name}.", "Et à la fin, voici {name}."],
        "end_many": ["Tous les amis jouent jusqu’au coucher du soleil.", "Maintenant, tout le monde dort. Bonne nuit !"],
        "end_one": ["Bonne nuit, {name} !"],
        "one_colour": ["{name} aime la couleur {c1}.", "Tu vois le {c1} ?", "{name} porte du {c1}."],
        "two_colours": ["{name} a du {c1} et du {c2}.", "Trouve le {c1} et le {c2} !", "Regarde : {c1} et {c2}."],
        "many": ["Voici {pictures} de {name} !", "Cherche les {pictures} de {name}.", "Compte les {pictures} de {name}."],
        "one": ["Voici {pictures} de {name}.", "Regarde : {pictures} de {name} !"],
        "warm": ["{name} court et saute.", "{name} est très gentil.", "{name} chante et danse.", "{name} fait de gros câlins."],
    },
    "de": {
        "open": ["Es war einmal {name}.", "Unsere Geschichte beginnt mit {name}.", "Sag Hallo zu {name}!",
                 "Dieses Buch beginnt mit {name}.", "In einem bunten Haus wohnt {name}."],
        "middle": ["Dann kommt {name}.", "Auf dem Weg wartet {name}.", "Klopf, klopf! Da ist {name}.",
                   "Jetzt spielt auch {name} mit.", "Gleich nebenan wohnt {name}.", "Schau, wer da kommt: {name}!"],
        "last": ["Zuletzt kommt {name}.", "Der letzte Freund im Buch ist {name}.", "Und am Ende kommt {name}."],
        "end_many": ["Alle Freunde spielen, bis die Sonne untergeht.", "Jetzt sind alle müde. Gute Nacht!"],
        "end_one": ["Gute Nacht, {name}!"],
        "one_colour": ["{name} mag die Farbe {c1}.", "Siehst du das {c1}?", "{name} trägt gern {c1}."],
        "two_colours": ["{name} ist {c1} und {c2}.", "Findest du {c1} und {c2}?", "Schau: {c1} und {c2}."],
        "many": ["Hier sind {pictures} von {name}!", "Such die {pictures} von {name}.", "Zähl die {pictures} von {name}."],
        "one": ["Hier ist {pictures} von {name}.", "Schau: {pictures} von {name}!"],
        "warm": ["{name} rennt und springt.", "{name} ist zu allen lieb.", "{name} singt und tanzt.", "{name} kuschelt gern."],
    },
    "ru": {
        "open": ["Жил-был {name}.", "Наша история начинается так: это {name}.", "Поздоровайся: это {name}!",
                 "Эта книга начинается с рисунка, где {name}.", "В доме, полном красок, живёт {name}."],
        "middle": ["Потом приходит {name}.", "По дороге встречается {name}.", "Тук-тук! Это {name}.",
                   "Теперь играть приходит {name}.", "По соседству живёт {name}.", "Смотри, кто идёт: {name}!"],
        "last": ["В конце приходит {name}.", "И наконец появляется {name}.", "А в самом конце — {name}."],
        "end_many": ["Друзья играют до самого заката.", "Теперь все устали. Спокойной ночи!"],
        "end_one": ["Спокойной ночи, {name}!"],
        "one_colour": ["Здесь много цвета {c1}.", "Ты видишь {c1} цвет?", "Любимый цвет — {c1}."],
        "two_colours": ["Здесь есть {c1} и {c2} цвет.", "Найди {c1} и {c2} цвет!", "Смотри: {c1} и {c2}."],
        "many": ["Вот {pictures}: везде {name}!", "Найди {pictures}, где {name}.", "Посчитай: {pictures}!"],
        "one": ["Вот ещё {pictures}: это {name}.", "Смотри: {pictures}!"],
        "warm": ["{name} бегает и прыгает.", "{name} — добрая душа.", "{name} поёт и танцует.", "{name} любит обниматься."],
    },
}
