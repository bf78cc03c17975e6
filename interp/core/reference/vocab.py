"""Word lists of the built-in reference models' word-level vocabulary.

Each list is a task's vocabulary: IOI names, places and objects (Wang et al. 2022 use 100
names; 40 suffice for the planted circuit), country/capital pairs (Merullo et al. 2023),
present/past-tense verb pairs (their second relation), adjective/superlative pairs (the
seed's ``biggest - big + small`` analogy), the planted FFN memories' trigger and target
words (Geva et al. 2021), template words, and a general English vocabulary so that real
text (the default mining corpus) tokenises mostly into known words.
"""

NAMES = (
    "Mary John Alice Bob Tom Anna James Sarah David Emma Michael Laura Daniel Kate Paul Lisa "
    "Mark Julia Peter Rachel Chris Amy Steven Helen Robert Grace Kevin Jessica Andrew Emily "
    "Brian Rose Eric Claire Jason Sophie Adam Nina Ryan Diana"
).split()

PLACES = (
    "store park school restaurant hospital station office beach library garden house cafe".split()
)

OBJECTS = "drink ring book bone kiss necklace basketball computer snack letter flower key".split()

CAPITALS = [
    ("France", "Paris"), ("Poland", "Warsaw"), ("China", "Beijing"), ("Germany", "Berlin"),
    ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"), ("Russia", "Moscow"),
    ("Egypt", "Cairo"), ("Greece", "Athens"), ("Austria", "Vienna"), ("Hungary", "Budapest"),
    ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Belgium", "Brussels"),
    ("Netherlands", "Amsterdam"), ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
    ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("Kenya", "Nairobi"), ("Peru", "Lima"),
    ("Chile", "Santiago"), ("Cuba", "Havana"), ("Canada", "Ottawa"), ("Australia", "Canberra"),
    ("Colombia", "Bogota"), ("Venezuela", "Caracas"), ("Philippines", "Manila"),
    ("Indonesia", "Jakarta"), ("Ukraine", "Kyiv"), ("Romania", "Bucharest"),
    ("Bulgaria", "Sofia"), ("Serbia", "Belgrade"), ("Czechia", "Prague"),
]  # fmt: skip

PAST_TENSE = [
    ("walk", "walked"), ("jump", "jumped"), ("play", "played"), ("talk", "talked"),
    ("cook", "cooked"), ("clean", "cleaned"), ("open", "opened"), ("watch", "watched"),
    ("call", "called"), ("help", "helped"), ("look", "looked"), ("work", "worked"),
    ("start", "started"), ("finish", "finished"), ("visit", "visited"), ("dance", "danced"),
    ("move", "moved"), ("paint", "painted"), ("laugh", "laughed"), ("climb", "climbed"),
    ("push", "pushed"), ("pull", "pulled"), ("kick", "kicked"), ("wash", "washed"),
]  # fmt: skip

SUPERLATIVES = [
    ("big", "biggest"), ("small", "smallest"), ("tall", "tallest"), ("short", "shortest"),
    ("fast", "fastest"), ("slow", "slowest"), ("old", "oldest"), ("young", "youngest"),
    ("strong", "strongest"), ("weak", "weakest"), ("high", "highest"), ("low", "lowest"),
    ("warm", "warmest"), ("cold", "coldest"), ("bright", "brightest"), ("dark", "darkest"),
    ("hard", "hardest"), ("soft", "softest"), ("deep", "deepest"), ("large", "largest"),
]  # fmt: skip

#: planted key-value memories of reference:recall: trigger word -> promoted next word
MEMORIES = [("coffee", "cup"), ("stock", "exchange"), ("ice", "cream"), ("rain", "coat")]

TEMPLATE_WORDS = (
    "When Then After While Afterwards The Friends Q A What is the capital of past tense "
    "and went to had a lot fun at were working decided give thinking about going wanted "
    "long argument afterwards said got it commuting lunch found gave handed"
).split()

PUNCTUATION = list(".,:;?!'\"()-")

COMMON_WORDS = (
    "the of and to a in is was that for it as with be by on not he I this are or his from "
    "at which but have an they you were her she there been one all we their has would when "
    "if so no will more can out up into do what about than them some its also time only may "
    "other new two first any these could then like over after such most used our made see "
    "me him my your how many well where just those very through before each both between "
    "under same own while because since without during against among around upon near "
    "each every another something nothing anything everything someone people man woman "
    "child children men women person family friend world life day year week month night "
    "morning evening hand eye head face body heart mind voice word name place part side "
    "way thing water fire air earth land sea river city country town street road home "
    "room door window table bed chair car ship boat train plane animal dog cat horse bird "
    "fish tree plant wood stone metal gold iron glass paper money price cost value number "
    "line point form kind sort type group set system state government law war peace power "
    "order work job business company market trade industry school student teacher "
    "book story history art music song picture color light sound heat energy food bread "
    "meat milk tea sugar salt fruit apple wine beer coffee cup ice cream rain coat snow wind "
    "sun moon star sky cloud weather summer winter spring autumn north south east west "
    "make take give get go come know think say tell see look find use want need try "
    "call ask feel become leave put mean keep let begin seem show hear turn run move live "
    "believe hold bring happen write provide sit stand lose pay meet include continue "
    "learn change lead understand speak read grow open walk win offer remember love "
    "consider appear buy wait serve die send expect build stay fall cut reach kill "
    "remain suggest raise pass sell require report decide pull carry break drive "
    "good great little own other old right big high different small large next early "
    "young important few public bad same able long short low hot cold warm cool dry wet "
    "full empty heavy light dark bright clean dirty easy hard soft strong weak rich poor "
    "fast slow quick happy sad true false free whole special certain clear simple "
    "black white red green blue yellow brown gray "
    "here there now then again still never always often sometimes usually already "
    "soon today yesterday tomorrow together away back down off too quite almost "
    "one two three four five six seven eight nine ten hundred thousand million "
    "first second third last next half "
    "who whom whose why how which what "
    "am are be being been do does did done has having made makes making "
    "used uses using gives given took taken goes gone came coming knows known thought "
    "says told sees seen found finds wants needs tried calls asked felt became left "
    "put puts means kept lets began seemed shows shown heard turned runs moved lives "
    "brought happened wrote written provided sat stood lost paid met included "
    "learned changed led understood spoke read grew opened won offered remembered loved "
    "bought waited served died sent expected built stayed fell reached killed "
    "act action activity age area army attention bank bag ball base bit board box boy "
    "brother building case cause center chance class club college community condition "
    "country course court cup data death degree department design development difference "
    "direction doctor dream education effect end example experience fact field figure "
    "film floor foot force game garden girl ground growth health hair hill hole horse hour "
    "idea interest island issue key king lady language leader level list love machine "
    "matter member message method minute model mother father sister daughter son "
    "mountain mouth movement nature news note object office oil page paper parent party "
    "period piece plan player position problem process product program project property "
    "purpose quality question rate reason record region result rock role rule science "
    "season sense service shape share sign size skin society soldier space speech "
    "sport square star step stock structure style subject success surface table task "
    "team term test text theory top truth unit use village wall war weight wife wing "
    "yard "
    "small round sharp flat thin thick wide narrow deep quiet loud sweet bitter fresh "
    "often plant leaves root seed flower grass egg sheep cow pig chicken "
    "a an any some no every each either neither all both half "
    "with within without into onto toward towards across along behind below beneath "
    "beside beyond inside outside above over under up down"
).split()


def all_words() -> list[str]:
    """Every word of the reference vocabulary, each once, in a fixed order."""
    groups: list[list[str]] = [
        NAMES,
        PLACES,
        OBJECTS,
        [w for pair in CAPITALS for w in pair],
        [w for pair in PAST_TENSE for w in pair],
        [w for pair in SUPERLATIVES for w in pair],
        [w for pair in MEMORIES for w in pair],
        TEMPLATE_WORDS,
        PUNCTUATION,
        COMMON_WORDS,
    ]
    seen: dict[str, None] = {}
    for group in groups:
        for word in group:
            seen.setdefault(word, None)
    return list(seen)
