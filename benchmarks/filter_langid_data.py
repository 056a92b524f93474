"""A labeled multilingual set for the language-ID comparison (written for this project).

Eight everyday sentences per language in 16 languages. `labeled(seed)` yields (language, kind,
text): the first words of every sentence (fragments), every sentence alone (short texts, under
100 characters) and, per language, 25 texts of 4 to 7 of its sentences in a seeded random order
(long texts, over 200 characters).
"""

from __future__ import annotations

import random

SENTENCES: dict[str, list[str]] = {
    "en": [
        "The train to the coast leaves every morning at seven.",
        "My grandmother grew tomatoes and beans behind her house.",
        "Please close the window before you go to bed tonight.",
        "The library is closed on Sundays and public holidays.",
        "We walked along the river until the sun went down.",
        "He forgot his umbrella and came home soaking wet.",
        "The new bridge will open to traffic next spring.",
        "Children learn languages faster than most adults do.",
    ],
    "de": [
        "Der Zug zur Küste fährt jeden Morgen um sieben Uhr ab.",
        "Meine Großmutter baute hinter ihrem Haus Tomaten und Bohnen an.",
        "Bitte schließ das Fenster, bevor du heute Abend ins Bett gehst.",
        "Die Bibliothek ist sonntags und an Feiertagen geschlossen.",
        "Wir gingen am Fluss entlang, bis die Sonne unterging.",
        "Er hat seinen Regenschirm vergessen und kam völlig durchnässt nach Hause.",
        "Die neue Brücke wird im nächsten Frühjahr für den Verkehr freigegeben.",
        "Kinder lernen Sprachen schneller als die meisten Erwachsenen.",
    ],
    "fr": [
        "Le train pour la côte part tous les matins à sept heures.",
        "Ma grand-mère cultivait des tomates et des haricots derrière sa maison.",
        "Ferme la fenêtre avant d'aller te coucher ce soir, s'il te plaît.",
        "La bibliothèque est fermée le dimanche et les jours fériés.",
        "Nous avons marché le long de la rivière jusqu'au coucher du soleil.",
        "Il a oublié son parapluie et il est rentré trempé.",
        "Le nouveau pont sera ouvert à la circulation au printemps prochain.",
        "Les enfants apprennent les langues plus vite que la plupart des adultes.",
    ],
    "es": [
        "El tren a la costa sale todas las mañanas a las siete.",
        "Mi abuela cultivaba tomates y judías detrás de su casa.",
        "Por favor, cierra la ventana antes de irte a la cama esta noche.",
        "La biblioteca está cerrada los domingos y los días festivos.",
        "Caminamos a lo largo del río hasta que se puso el sol.",
        "Olvidó su paraguas y llegó a casa empapado.",
        "El nuevo puente se abrirá al tráfico la próxima primavera.",
        "Los niños aprenden idiomas más rápido que la mayoría de los adultos.",
    ],
    "it": [
        "Il treno per la costa parte ogni mattina alle sette.",
        "Mia nonna coltivava pomodori e fagioli dietro casa.",
        "Per favore chiudi la finestra prima di andare a letto stasera.",
        "La biblioteca è chiusa la domenica e nei giorni festivi.",
        "Abbiamo camminato lungo il fiume fino al tramonto.",
        "Ha dimenticato l'ombrello ed è tornato a casa bagnato fradicio.",
        "Il nuovo ponte sarà aperto al traffico la prossima primavera.",
        "I bambini imparano le lingue più in fretta della maggior parte degli adulti.",
    ],
    "pt": [
        "O comboio para a costa parte todas as manhãs às sete horas.",
        "A minha avó cultivava tomates e feijões atrás de casa.",
        "Por favor, fecha a janela antes de ires para a cama esta noite.",
        "A biblioteca está fechada aos domingos e feriados.",
        "Caminhámos ao longo do rio até o sol se pôr.",
        "Ele esqueceu-se do guarda-chuva e chegou a casa encharcado.",
        "A nova ponte vai abrir ao trânsito na próxima primavera.",
        "As crianças aprendem línguas mais depressa do que a maioria dos adultos.",
    ],
    "nl": [
        "De trein naar de kust vertrekt elke ochtend om zeven uur.",
        "Mijn grootmoeder kweekte tomaten en bonen achter haar huis.",
        "Doe alsjeblieft het raam dicht voordat je vanavond naar bed gaat.",
        "De bibliotheek is op zondag en op feestdagen gesloten.",
        "We liepen langs de rivier tot de zon onderging.",
        "Hij vergat zijn paraplu en kwam doornat thuis.",
        "De nieuwe brug gaat volgend voorjaar open voor het verkeer.",
        "Kinderen leren talen sneller dan de meeste volwassenen.",
    ],
    "sv": [
        "Tåget till kusten går varje morgon klockan sju.",
        "Min mormor odlade tomater och bönor bakom sitt hus.",
        "Stäng fönstret innan du går och lägger dig i kväll.",
        "Biblioteket är stängt på söndagar och helgdagar.",
        "Vi gick längs ån tills solen gick ner.",
        "Han glömde sitt paraply och kom hem genomblöt.",
        "Den nya bron öppnar för trafik nästa vår.",
        "Barn lär sig språk snabbare än de flesta vuxna.",
    ],
    "pl": [
        "Pociąg nad morze odjeżdża codziennie rano o siódmej.",
        "Moja babcia uprawiała pomidory i fasolę za domem.",
        "Zamknij proszę okno, zanim pójdziesz dziś spać.",
        "Biblioteka jest zamknięta w niedziele i święta.",
        "Szliśmy wzdłuż rzeki, aż zaszło słońce.",
        "Zapomniał parasola i wrócił do domu całkiem przemoczony.",
        "Nowy most zostanie otwarty dla ruchu przyszłej wiosny.",
        "Dzieci uczą się języków szybciej niż większość dorosłych.",
    ],
    "ru": [
        "Поезд к морю отправляется каждое утро в семь часов.",
        "Моя бабушка выращивала помидоры и фасоль за домом.",
        "Пожалуйста, закрой окно, прежде чем ложиться спать.",
        "Библиотека закрыта по воскресеньям и в праздничные дни.",
        "Мы шли вдоль реки, пока не село солнце.",
        "Он забыл зонтик и пришёл домой совсем мокрым.",
        "Новый мост откроют для движения следующей весной.",
        "Дети учат языки быстрее, чем большинство взрослых.",
    ],
    "tr": [
        "Sahile giden tren her sabah saat yedide kalkıyor.",
        "Büyükannem evinin arkasında domates ve fasulye yetiştirirdi.",
        "Lütfen bu gece yatmadan önce pencereyi kapat.",
        "Kütüphane pazar günleri ve resmi tatillerde kapalıdır.",
        "Güneş batana kadar nehir boyunca yürüdük.",
        "Şemsiyesini unuttu ve eve sırılsıklam geldi.",
        "Yeni köprü önümüzdeki baharda trafiğe açılacak.",
        "Çocuklar dilleri çoğu yetişkinden daha hızlı öğrenir.",
    ],
    "fi": [
        "Juna rannikolle lähtee joka aamu kello seitsemän.",
        "Isoäitini kasvatti tomaatteja ja papuja talonsa takana.",
        "Sulje ikkuna, ennen kuin menet tänä iltana nukkumaan.",
        "Kirjasto on suljettu sunnuntaisin ja pyhäpäivinä.",
        "Kävelimme joen vartta, kunnes aurinko laski.",
        "Hän unohti sateenvarjonsa ja tuli kotiin läpimärkänä.",
        "Uusi silta avataan liikenteelle ensi keväänä.",
        "Lapset oppivat kieliä nopeammin kuin useimmat aikuiset.",
    ],
    "cs": [
        "Vlak k moři odjíždí každé ráno v sedm hodin.",
        "Moje babička pěstovala za domem rajčata a fazole.",
        "Prosím, zavři okno, než dnes večer půjdeš spát.",
        "Knihovna je v neděli a o svátcích zavřená.",
        "Šli jsme podél řeky, dokud nezapadlo slunce.",
        "Zapomněl deštník a přišel domů úplně promočený.",
        "Nový most bude otevřen pro dopravu příští jaro.",
        "Děti se učí jazyky rychleji než většina dospělých.",
    ],
    "zh": [
        "去海边的火车每天早上七点出发。",
        "我的奶奶在房子后面种了西红柿和豆子。",
        "今晚睡觉之前请把窗户关上。",
        "图书馆星期天和节假日不开门。",
        "我们沿着河边一直走到太阳下山。",
        "他忘了带伞，回家的时候全身都湿透了。",
        "新的大桥将在明年春天通车。",
        "孩子们学习语言比大多数成年人快。",
    ],
    "ja": [
        "海辺へ行く電車は毎朝七時に出発します。",
        "祖母は家の裏でトマトと豆を育てていました。",
        "今夜寝る前に窓を閉めてください。",
        "図書館は日曜日と祝日は休みです。",
        "私たちは日が沈むまで川沿いを歩きました。",
        "彼は傘を忘れて、びしょ濡れで家に帰ってきました。",
        "新しい橋は来年の春に開通する予定です。",
        "子どもは多くの大人よりも早く言語を覚えます。",
    ],
    "ar": [
        "يغادر القطار إلى الساحل كل صباح في الساعة السابعة.",
        "كانت جدتي تزرع الطماطم والفاصوليا خلف بيتها.",
        "من فضلك أغلق النافذة قبل أن تذهب إلى النوم الليلة.",
        "المكتبة مغلقة يوم الأحد وفي العطل الرسمية.",
        "مشينا على طول النهر حتى غربت الشمس.",
        "نسي مظلته وعاد إلى البيت مبللا تماما.",
        "سيفتح الجسر الجديد أمام حركة المرور في الربيع القادم.",
        "يتعلم الأطفال اللغات أسرع من معظم البالغين.",
    ],
}


def labeled(seed: int = 0, long_per_language: int = 25) -> list[tuple[str, str, str]]:
    """(language, kind, text): kind is 'fragment' (a sentence's first three words, or first
    eight characters in Chinese and Japanese), 'short' (one sentence) or 'long' (4-7
    sentences, over 200 characters)."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    for lang, sentences in SENTENCES.items():
        if lang in ("zh", "ja"):
            out.extend((lang, "fragment", s[:8]) for s in sentences)
        else:
            out.extend((lang, "fragment", " ".join(s.split()[:3])) for s in sentences)
        out.extend((lang, "short", s) for s in sentences)
        for _ in range(long_per_language):
            k = rng.randint(4, 7)
            sep = "" if lang in ("zh", "ja") else " "
            text = sep.join(rng.sample(sentences, k))
            # CJK sentences are short in characters: add sentences until past 200 characters
            while len(text) <= 200:
                text += sep + rng.choice(sentences)
            out.append((lang, "long", text))
    return out
